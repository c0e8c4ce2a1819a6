"""The canary experiment's plan, pure: how many fair labelled customers (and requests, and seconds) its quality
claim needs to settle a `min_detectable_auc_drop` at `power`, before it starts. The looks re-plan with the
variance they observe (common.experiment.judgement.quality_result)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from common.experiment.sequential import hanley_mcneil_row_variance, rows_needed

# Before the experiment nothing says how alike the two versions' scores are; a retrained version's scores
# correlate about this much with its predecessor's (0.8-0.95 measured here). Shadow mode's looks use the real one.
ASSUMED_CORRELATION = 0.8


@dataclass(frozen=True)
class Plan:
    mode: str
    labelled_needed: int  # fair labelled customers, both versions' together
    requests_needed: int | None  # None: live traffic, whose labelled share is not known beforehand
    seconds_needed: float | None
    requests_planned: int | None  # what the experiment's looks and replay rate send
    fair_customers: int | None  # the replay's fair comparison set
    enough: bool | None
    assumption: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def said(self) -> str:
        """The plan in one line, as step 02 prints it."""
        line = f"{self.labelled_needed} fair labelled customers ({self.mode}; {self.assumption})"
        if self.requests_needed is not None and self.seconds_needed is not None:
            line += f": {self.requests_needed} requests, {self.seconds_needed:.1f} s at the replay rate"
        if self.requests_planned is not None:
            line += f"; the experiment sends {self.requests_planned}"
        if self.fair_customers is not None:
            line += f" to {self.fair_customers} fair customers"
        if self.enough is False:
            line += ": too few, expect an inconclusive experiment (more iterations, a higher rate, more data)"
        return line


def per_row_variance(
    mode: str, auc: float, candidate_auc: float, prevalence: float, canary_percent: float
) -> float:
    """The variance of the AUC difference times the labelled customers it is measured on, the candidate at
    `candidate_auc` (a worse AUC varies more: the plan takes the least favourable claim's)."""
    stable, candidate = (hanley_mcneil_row_variance(a, prevalence) for a in (auc, candidate_auc))
    if mode == "shadow":
        return stable + candidate - 2 * ASSUMED_CORRELATION * math.sqrt(stable * candidate)
    share = canary_percent / 100
    return stable / (1 - share) + candidate / share


def make_plan(experiment: dict[str, Any], auc: float, prevalence: float, fair_customers: int | None) -> Plan:
    """The plan of a declared experiment (its mode, objectives, traffic and replay), for a stable version of
    ROC AUC `auc` on customers of churn rate `prevalence`."""
    obj, mode = experiment["objectives"], experiment["mode"]
    effect = obj["min_detectable_auc_drop"]
    worst = max(auc - obj.get("max_auc_drop", 0.0) - effect, 0.5)  # where a rollback must be shown
    variance = per_row_variance(mode, auc, worst, prevalence, experiment["canary_percent"])
    needed = rows_needed(variance, effect, effect, obj["alpha"], obj["power"], cap=10**8)
    assumption = (
        f"scores correlated {ASSUMED_CORRELATION:g} between versions, paired"
        if mode == "shadow"
        else f"{experiment['canary_percent']:g} % of customers meet the candidate, unpaired"
    )
    if experiment["traffic"] != "replay":
        return Plan(mode, needed, None, None, None, None, None, assumption)
    rate = experiment["replay"]["rate"]
    planned = int(rate * experiment["interval_s"] * experiment["iterations"])
    # each fair customer counts once: the replay cycles them, so the set caps the labelled customers too
    reachable = min(planned, fair_customers) if fair_customers is not None else planned
    return Plan(mode, needed, needed, needed / rate, planned, fair_customers, reachable >= needed, assumption)
