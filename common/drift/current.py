"""The current side of a drift check, by `drift.current`: the inference log's last window (local folder or the
object store's prefix), or the newest validated data version scored by the champion."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from common.drift.window import log_files, read_window
from common.serving.log_sinks import PREFIX
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from common.model.version import ModelVersion

log = logging.getLogger(__name__)
LOGGED = ["model_version", "churn_probability", "prediction"]


@dataclass
class Current:
    frame: pd.DataFrame  # the dataset's columns, the id and churn_probability (and a label when known)
    rows: int  # rows in the window, before any sample
    source: str  # what was read, for the report and lineage
    key: str  # names this current data: the same key never triggers a retrain twice
    uri: str = ""  # the dataset read, for lineage
    labels_in_frame: bool = False
    quarantined: int = 0  # log files that could not be read, moved aside

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.rows


def from_inference_log(cfg: Settings, ws: Workspace, now: datetime, version: str | None = None) -> Current:
    """The window's rows (of model `version` only, when given: a canary's candidate is not the champion)."""
    ds, drift = cfg.dataset, cfg.drift
    start = now - timedelta(hours=drift.window_hours)
    columns = [ds.id_column, *ds.numeric, *ds.categorical, *LOGGED]
    with log_root(cfg, ws, start, now) as (root, where):
        files = log_files(root, start, now)
        bad = _quarantine(cfg, ws, root)
        window = read_window(files, start, now, columns, drift.max_rows, drift.seed, version, bad)
    span = f"{start:%Y-%m-%dT%H:%M:%S}Z..{now:%Y-%m-%dT%H:%M:%S}Z"
    return Current(
        window.frame,
        window.rows,
        f"{where} {span} ({window.files} files)",
        f"inference-log {span}",
        where if "://" in where else Path(where).as_uri(),
        quarantined=window.quarantined,
    )


def from_latest_extract(cfg: Settings, ws: Workspace, champion: ModelVersion) -> Current:
    """The newest validated data version, with the champion's probabilities (its labels are in it)."""
    import mlflow
    import pandas as pd

    from common.chain import VALIDATE
    from common.chain.records import Validated
    from common.data.registry import data_path
    from common.features.engineering import build_features, feature_types
    from common.model.tracking import tracking_uri, use

    validated = ws.require(VALIDATE, f"drift.current latest_extract needs validated data: run {VALIDATE}.py")
    data = Validated.of(validated)
    path = data.path
    df = pd.read_parquet(path)
    if len(df) > cfg.drift.max_rows:
        df = df.sample(cfg.drift.max_rows, random_state=cfg.drift.seed).reset_index(drop=True)
    use(tracking_uri(cfg, ws))
    model = mlflow.sklearn.load_model(champion.model_uri)
    features = build_features(df, cfg.features, cfg.dataset)[list(feature_types(cfg.features, cfg.dataset))]
    df = df.assign(churn_probability=model.predict_proba(features)[:, 1])
    tag = data.tag
    rows = int(validated.metrics.get("rows", len(df)))
    uri = f"dvc://{ws.root / 'data-registry'}/{data_path(cfg)}@{tag}"
    return Current(df, rows, f"{path}@{tag}", f"extract {tag}", uri, labels_in_frame=True)


def _quarantine(cfg: Settings, ws: Workspace, root: Path) -> Callable[[Path, Exception], None]:
    """What happens to a log file that cannot be read: moved to <workspace>/quarantine/inference-log/ (with
    object_store.backend s3, the object is removed from the log once its copy is there), so no later check
    trips over it again."""
    from common.quarantine import move_file

    def bad(path: Path, exc: Exception) -> None:
        key = f"{PREFIX}/{path.relative_to(root).as_posix()}"
        move_file(ws, path, "inference-log", f"{type(exc).__name__}: {exc}"[:300])
        if cfg.object_store.backend == "s3":
            from common.data.object_store import make_store

            make_store(cfg.object_store, ws).delete(key)

    return bad


@contextlib.contextmanager
def log_root(cfg: Settings, ws: Workspace, start: datetime, end: datetime) -> Iterator[tuple[Path, str]]:
    """The log as a local folder: the workspace's, or the window's days fetched from the object store."""
    root = ws.root / PREFIX
    if cfg.object_store.backend != "s3":
        yield root, str(root)
        return
    import shutil
    import tempfile

    from common.data.object_store import make_store

    store = make_store(cfg.object_store, ws)
    tmp = Path(tempfile.mkdtemp(prefix="inference-log.", dir=ws.dir("tmp")))
    try:
        day = start.date()
        while day <= end.date():
            for key in store.list(f"{PREFIX}/date={day:%Y-%m-%d}/"):
                store.get_file(key, tmp / key.removeprefix(f"{PREFIX}/"))
            day += timedelta(days=1)
        yield tmp, store.uri(PREFIX)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
