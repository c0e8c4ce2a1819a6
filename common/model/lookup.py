"""The holdout rows a version's training run logged with their probabilities, as later use cases read them (UC3's
drift, UC5's fairness and card)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def holdout_predictions(cfg: Settings, ws: Workspace, run_id: str) -> pd.DataFrame | None:
    """The champion's holdout rows with their churn probabilities (logged by its training run), or None for a
    version trained before they were logged."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from common.model.registry import HOLDOUT_ARTIFACT
    from common.model.tracking import client_for, tracking_uri

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
