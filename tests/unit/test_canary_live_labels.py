"""UC2's quality objective on live traffic: both versions' scores from the inference log (shadow mode: the same
customers), the labels from the feedback table, the customers either version trained on left out. A real
workspace: the log as the server writes it (Parquet by date) and the feedback table in the embedded warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.config import load_config
from common.data.warehouse import make_engine, warehouse_url
from common.drift.feedback import write_labels
from common.serving.log_sinks import PREFIX
from common.workspace import Workspace
from uc2_ab_testing.uc2_03_monitor_experiment import quality

CFG = load_config(environ={})


def _log(ws: Workspace, now: datetime, rows: int, worse: bool) -> pd.DataFrame:
    """`rows` customers scored by version 1 and, in its shadow, version 2 (a coin when `worse`); their labels."""
    rng = np.random.default_rng(5)
    y = (rng.random(rows) < 0.3).astype(int)
    stable = np.clip(0.3 + 0.4 * y + rng.normal(scale=0.15, size=rows), 0, 1)
    candidate = rng.random(rows) if worse else np.clip(stable + rng.normal(scale=0.01, size=rows), 0, 1)
    ids = np.arange(1, rows + 1)
    frame = pd.DataFrame(
        {
            "ts": [now - timedelta(seconds=30)] * (2 * rows),
            "model_version": ["1"] * rows + ["2"] * rows,
            "customer_id": np.concatenate([ids, ids]),
            "churn_probability": np.concatenate([stable, candidate]),
        }
    )
    folder = ws.dir(PREFIX, f"date={now:%Y-%m-%d}")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(0, "ts", pa.array(frame["ts"], pa.timestamp("us", "UTC")))
    pq.write_table(table, folder / "part-0.parquet")
    return pd.DataFrame({"customer_id": ids, "churn": y})


def _experiment(now: datetime, excluded: str | None) -> dict[str, Any]:
    objectives = {"max_auc_drop": 0.01, "min_detectable_auc_drop": 0.02, "alpha": 0.05, "power": 0.8}
    return {
        "mode": "shadow",
        "traffic": "live",
        "stable": "1",
        "candidate": "2",
        "started_at": (now - timedelta(minutes=5)).isoformat(),
        "min_requests": 100,
        "objectives": objectives,
        "fair": {"path": excluded},
    }


def _labels(ws: Workspace, labels: pd.DataFrame) -> None:
    engine = make_engine(warehouse_url(CFG.warehouse, ws))
    try:
        write_labels(engine, CFG.drift.feedback_table, "customer_id", labels)
    finally:
        engine.dispose()


def test_live_labels_settle_the_quality_claim_on_the_same_customers(tmp_path: Path) -> None:
    ws, now = Workspace(tmp_path / "ws"), datetime.now(UTC)
    labels = _log(ws, now, 1500, worse=False)
    look = quality(CFG, ws, _experiment(now, None), tmp_path)
    before = look()  # no feedback table yet: no labels, no judgement
    assert before.status == "insufficient" and "0 fair labelled customers" in before.detail
    _labels(ws, labels)
    found = look()
    assert found.status == "pass" and "on 1500 fair labelled customers" in found.detail, found.detail


def test_live_traffic_shows_a_worse_candidate_and_leaves_trained_customers_out(tmp_path: Path) -> None:
    ws, now = Workspace(tmp_path / "ws"), datetime.now(UTC)
    _labels(ws, _log(ws, now, 1500, worse=True))
    excluded = tmp_path / "trained_ids.parquet"
    pd.DataFrame({"customer_id": range(1, 1001)}).to_parquet(excluded)
    found = quality(CFG, ws, _experiment(now, str(excluded)), tmp_path)()
    assert found.status == "fail" and "on 500 fair labelled customers" in found.detail, found.detail


def test_a_label_known_before_the_experiment_began_does_not_count(tmp_path: Path) -> None:
    """An outcome already known when the experiment began was there to train on: not a fair label."""
    from sqlalchemy import text

    ws, now = Workspace(tmp_path / "ws"), datetime.now(UTC)
    _labels(ws, _log(ws, now, 1500, worse=False))
    engine = make_engine(warehouse_url(CFG.warehouse, ws))
    try:
        with engine.begin() as conn:  # stamped an hour ago: before the experiment of the last 5 minutes
            conn.execute(
                text(f"UPDATE {CFG.drift.feedback_table} SET labelled_at = :then"),
                {"then": now - timedelta(hours=1)},
            )
    finally:
        engine.dispose()
    found = quality(CFG, ws, _experiment(now, None), tmp_path)()
    assert found.status == "insufficient" and "0 fair labelled customers" in found.detail, found.detail
