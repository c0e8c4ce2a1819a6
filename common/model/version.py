"""One registered model version, as every step and wing reads it: found by number or alias, with `find` (None when
there is none) and `require` (the one error that says so, and what to run)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.errors import MissingInputError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from common.settings import Settings
    from common.workspace import Workspace

# MLflow's answer when the version or the alias does not exist (a file store says the second for a bad alias)
ABSENT = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class ModelVersion:
    """A version of a registered model. `source` is where its artifacts are (the registry's download URI, what
    a model server or KServe's storageUri reads); `tags` are all of the version's tags, of which the training
    step writes the data tag, the decision threshold, the gate's decision and the holdout metrics."""

    name: str
    version: str
    run_id: str
    source: str
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    created: int = 0

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def data_tag(self) -> str | None:
        return self.tags.get("data_tag") or None

    @property
    def threshold(self) -> float:
        return float(self.tags.get("decision_threshold", 0.5))

    @property
    def metrics(self) -> dict[str, float]:
        """The holdout metrics the gate recorded (metric.<name> tags)."""
        return {k.removeprefix("metric."): float(v) for k, v in self.tags.items() if k.startswith("metric.")}

    @property
    def gate(self) -> dict[str, Any]:
        return {
            "passed": self.tags.get("gate.passed") == "true",
            "promoted": self.tags.get("gate.promoted") == "true",
            "reasons": json.loads(self.tags.get("gate.reasons", "[]")),
        }

    def trained_on(self) -> str:
        """Its data tag; a version without one cannot be compared with its training data."""
        if not self.data_tag:
            raise MissingInputError(
                f"{self.name} version {self.version} has no data_tag: its training data is unknown"
            )
        return self.data_tag

    @classmethod
    def find(cls, client: MlflowClient, name: str, ref: str) -> ModelVersion | None:
        """Version `ref` (a number, or an alias) of `name`, or None when there is none."""
        from mlflow.exceptions import MlflowException

        try:
            found = (
                client.get_model_version(name, ref)
                if ref.isdigit()
                else client.get_model_version_by_alias(name, ref)
            )
            source = client.get_model_version_download_uri(name, str(found.version))
        except MlflowException as exc:
            if exc.error_code in ABSENT:
                return None
            raise
        return cls(
            name=name,
            version=str(found.version),
            run_id=found.run_id or "",
            source=source,
            aliases=tuple(sorted(found.aliases or [])),
            tags=dict(found.tags or {}),
            created=int(found.creation_timestamp or 0),
        )

    @classmethod
    def require(cls, client: MlflowClient, name: str, ref: str) -> ModelVersion:
        """Version `ref` of `name`; MissingInputError naming it, and the pipeline that trains one, when absent."""
        found = cls.find(client, name, ref)
        if found is None:
            from common.usecases import pipeline_for

            what = f"version {ref}" if ref.isdigit() else f"version with the alias {ref!r}"
            raise MissingInputError(f"{name} has no {what}: train one first ({pipeline_for('train')})")
        return found


def registry(cfg: Settings, ws: Workspace) -> MlflowClient:
    """The registry the config names (the workspace's own by default)."""
    from common.model.tracking import client_for, tracking_uri

    return client_for(tracking_uri(cfg, ws))


def find(cfg: Settings, ws: Workspace, ref: str) -> ModelVersion | None:
    """Version or alias `ref` of the configured registered model, or None."""
    return ModelVersion.find(registry(cfg, ws), cfg.training.registered_model, ref)


def require(cfg: Settings, ws: Workspace, ref: str) -> ModelVersion:
    """Version or alias `ref` of the configured registered model; MissingInputError when absent."""
    return ModelVersion.require(registry(cfg, ws), cfg.training.registered_model, ref)
