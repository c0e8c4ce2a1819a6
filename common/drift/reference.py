"""What the champion was trained on: its version's registry record, the data version behind its `data_tag`
(sampled once per data version and kept under <workspace>/drift/reference/), and its holdout predictions."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MissingInputError
from common.settings import Settings
from common.workspace import Workspace, atomic_path

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def model_version(cfg: Settings, ws: Workspace, alias: str) -> dict[str, Any]:
    """The version behind `alias`: number, MLflow run, data tag, decision threshold and holdout metrics."""
    from mlflow.exceptions import MlflowException

    from common.model.registry import client_for, tracking_uri

    name = cfg.training.registered_model
    client = client_for(tracking_uri(cfg, ws))
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise MissingInputError(
            f"no version of {name} has the alias {alias!r} (drift.alias): train one first "
            "(uc1_churn_prediction/run_pipeline.py)"
        ) from exc
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
    }


def reference_frame(cfg: Settings, ws: Workspace, tag: str) -> pd.DataFrame:
    """The dataset's columns at data version `tag`, sampled to drift.reference_rows: prepared once per data
    version (a version's bytes never change), then read back."""
    import pandas as pd

    from common.chain.version import data_path, open_registry

    ds = cfg.dataset
    cached = ws.dir("drift", "reference") / f"{ds.table}_{tag}_{cfg.drift.reference_rows}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    with ws.scratch(f"{ds.table}_{tag}.parquet") as tmp:
        open_registry(cfg, ws).export(data_path(cfg), tag, tmp)
        df = pd.read_parquet(tmp, columns=[ds.id_column, *ds.numeric, *ds.categorical, ds.target])
    if len(df) > cfg.drift.reference_rows:
        df = df.sample(cfg.drift.reference_rows, random_state=cfg.drift.seed).reset_index(drop=True)
    with atomic_path(cached) as out:
        df.to_parquet(out, index=False)
    log.info("reference for %s: %d rows, kept at %s", tag, len(df), cached)
    return df


def holdout_predictions(cfg: Settings, ws: Workspace, run_id: str) -> pd.DataFrame | None:
    """The champion's holdout rows with their churn probabilities (logged by its training run), or None for a
    version trained before they were logged."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from common.model.registry import HOLDOUT_ARTIFACT, client_for, tracking_uri

    client = client_for(tracking_uri(cfg, ws))
    folder = ws.dir("tmp", f"holdout-{run_id}")
    try:
        path = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, str(folder))
    except (MlflowException, OSError) as exc:
        log.warning("run %s has no %s (%s): prediction drift is not measured", run_id, HOLDOUT_ARTIFACT, exc)
        return None
    try:
        return pd.read_parquet(Path(path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
