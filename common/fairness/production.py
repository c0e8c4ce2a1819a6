"""The fairness analysis on production traffic: the version's own logged answers (the inference log's window
that UC3 reads, drift.window_hours) joined to the labels that have arrived since (UC3's feedback table,
drift.feedback_table), judged as the holdout is, to be shown beside it. Information only: the verdict stays
the holdout's (see analyse_traffic)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from common.fairness.analysis import judge, sensitive_groups, verdict
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from common.model.version import ModelVersion

log = logging.getLogger(__name__)
NO_LABELS = "no production labels yet"


def production(cfg: Settings, ws: Workspace, target: ModelVersion, now: datetime) -> dict[str, Any]:
    """The analysis of `target`'s labelled production traffic, or a note saying why there is none (no
    traffic logged in the window, or no label arrived for it): never an error."""
    from common.drift.current import from_inference_log
    from common.drift.feedback import labels_for

    id_column = cfg.dataset.id_column
    current = from_inference_log(cfg, ws, now, target.version)  # this version's answers, not a canary's
    found: dict[str, Any] = {"source": current.source, "uri": current.uri, "logged": current.rows, "rows": 0}
    if current.frame.empty:
        window = f"drift.window_hours {cfg.drift.window_hours:g}"
        return found | {"note": f"no production traffic of v{target.version} logged ({window}): {NO_LABELS}"}
    newest = current.frame.drop_duplicates(
        id_column, keep="last"
    )  # a customer asked twice: the latest answer
    rows = labelled(newest, labels_for(cfg, ws, newest[id_column]), id_column)
    if rows.empty:
        return found | {
            "note": f"{NO_LABELS}: no label has arrived for the {len(newest):,} customer(s) answered"
        }
    log.info("fairness on production: %d labelled rows of %d logged", len(rows), current.rows)
    return found | analyse_traffic(rows, target.threshold, cfg)


def labelled(logged: pd.DataFrame, labels: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """The logged answers whose outcome arrived after them (a label from before the answer says nothing of it),
    with that outcome as `label` (common.drift.feedback's columns)."""
    from common.drift.feedback import LABELLED_AT

    joined = logged.merge(labels, on=id_column)
    return joined[joined[LABELLED_AT] >= joined["ts"]].reset_index(drop=True)


def analyse_traffic(rows: pd.DataFrame, threshold: float, cfg: Settings) -> dict[str, Any]:
    """The holdout's analysis (groups, intervals, disparities, findings) on labelled logged rows: their
    logged probability at the version's threshold against the label that arrived. Only the features the log
    can give: a column that is no model input (dataset.attributes) is not logged. Its findings are not the
    verdict: the labels that arrive first are a selection of the traffic (the customers whose outcome is
    known soonest), where the holdout is a random sample of the version's own data."""
    from common.drift.feedback import LABEL
    from common.features.engineering import build_features

    fc, ds = cfg.fairness, cfg.dataset
    # the log's answer time stands in for the event time: derived bins (age_group) are computed as in training
    features = build_features(rows.assign(**{ds.event_time: rows["ts"]}), cfg.features, ds)
    logged = set(features.columns)
    usable = {
        "sensitive_features": [f for f in fc.sensitive_features if f in logged],
        "intersections": [i for i in fc.intersections if set(i) <= logged],
    }
    named = dict.fromkeys([*fc.sensitive_features, *(p for i in fc.intersections for p in i)])
    y = rows[LABEL].to_numpy().astype(np.int64)
    pred = (rows["churn_probability"].to_numpy() >= threshold).astype(np.int64)
    found = judge(y, pred, sensitive_groups(features, fc.model_copy(update=usable)), fc)
    return {
        "rows": len(rows),
        "features": found,
        "findings": [f["text"] for f in verdict(found, fc.thresholds)],
        "not_logged": [f for f in named if f not in logged],
        "note": "",
    }
