"""The churn data-and-training chain: extract, version, validate, features, train. UC1 runs it as its steps
01-05 and UC3 runs it again to retrain on newer data. Each step keeps the name of the step that declares its role
(common.usecases: `ROLE = "extract"` in UC1's step 01), so the workspace state, the next step and lineage see one
job whoever ran it. The names are looked up when first asked for, never written here."""

from __future__ import annotations

ROLES = {
    "EXTRACT": "extract",
    "VERSION": "version",
    "VALIDATE": "validate",
    "FEATURES": "features",
    "TRAIN": "train",
    "BATCH": "batch",  # not in ORDER: the scores follow the champion (chain.batch.refresh)
}
ORDER_ROLES = ("extract", "version", "validate", "features", "train")

# Their types, for the type checker: annotations only, so each name still comes from __getattr__ when asked for
EXTRACT: str
VERSION: str
VALIDATE: str
FEATURES: str
TRAIN: str
BATCH: str
ORDER: list[str]
LOCK: str


def __getattr__(name: str) -> str | list[str]:
    """EXTRACT ... BATCH: the step of each role; ORDER: the chain's steps; LOCK: the lock the scripts of the use
    case that declares the chain take (whoever runs the chain's steps holds it)."""
    from common.usecases import owner_of, step_for

    if name in ROLES:
        return step_for(ROLES[name])
    if name == "ORDER":
        return [step_for(role) for role in ORDER_ROLES]
    if name == "LOCK":
        return owner_of("extract").name
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
