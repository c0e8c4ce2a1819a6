"""A registered version as later use cases read it (UC3's drift, UC5's fairness and card): its record in the
registry, and the holdout rows its training run logged with their probabilities."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MissingInputError
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def model_version(cfg: Settings, ws: Workspace, ref: str) -> dict[str, Any]:
    """The version `ref` (a number, or an alias): number, aliases, MLflow run, data tag, decision threshold,
    holdout metrics and all its tags."""
    from mlflow.exceptions import MlflowException

    from common.model.registry import client_for, tracking_uri

    name = cfg.training.registered_model
    client = client_for(tracking_uri(cfg, ws))
    try:
        mv = (
            client.get_model_version(name, ref)
            if ref.isdigit()
            else client.get_model_version_by_alias(name, ref)
        )
    except MlflowException as exc:
        what = f"version {ref}" if ref.isdigit() else f"a version with the alias {ref!r}"
        from common.usecases import pipeline_for

        raise MissingInputError(f"{name} has no {what}: train one first ({pipeline_for('train')})") from exc
    tags = mv.tags or {}
    if not tags.get("data_tag"):
        raise MissingInputError(f"{name} version {mv.version} has no data_tag: its training data is unknown")
    return {
        "name": name,
        "version": str(mv.version),
        "run_id": mv.run_id,
        "data_tag": tags["data_tag"],
        "threshold": float(tags.get("decision_threshold", 0.5)),
        "metrics": {k.removeprefix("metric."): float(v) for k, v in tags.items() if k.startswith("metric.")},
        "model_uri": f"models:/{name}/{mv.version}",
        "aliases": sorted(mv.aliases or []),
        "created": mv.creation_timestamp,
        "tags": tags,
    }


def holdout_predictions(cfg: Settings, ws: Workspace, run_id: str) -> pd.DataFrame | None:
    """The champion's holdout rows with their churn probabilities (logged by its training run), or None for a
    version trained before they were logged."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from common.model.registry import HOLDOUT_ARTIFACT, client_for, tracking_uri

    client = client_for(tracking_uri(cfg, ws))
    folder = Path(tempfile.mkdtemp(prefix=f"holdout-{run_id}.", dir=ws.dir("tmp")))  # one per process
    try:
        path = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, str(folder))
    except (MlflowException, OSError) as exc:
        log.warning("run %s has no %s (%s): prediction drift is not measured", run_id, HOLDOUT_ARTIFACT, exc)
        return None
    try:
        return pd.read_parquet(Path(path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
