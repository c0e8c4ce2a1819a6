"""UC5 on production traffic: the version's logged answers joined to the labels that arrived after them, judged
as the holdout is and shown beside it; no log or no label is a note, not an error. A real workspace: the
inference log as the server writes it (Parquet by date) and the feedback table in the embedded warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.config import load_config
from common.data.sample_data import generate
from common.data.warehouse import make_engine, warehouse_url
from common.drift.feedback import write_labels
from common.fairness.production import NO_LABELS, analyse_traffic, labelled, production
from common.model.version import ModelVersion
from common.serving.log_sinks import PREFIX
from common.workspace import Workspace

CFG = load_config(overrides=["fairness.bootstrap_rounds=50"], environ={})
TARGET = ModelVersion("churn-predictor", "1", "run", "src", tags={"decision_threshold": "0.5"})


def test_a_label_counts_only_when_it_arrived_after_the_answer() -> None:
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    logged = pd.DataFrame({"customer_id": [1, 2, 3], "ts": [t0] * 3, "churn_probability": [0.9, 0.1, 0.5]})
    labels = pd.DataFrame(
        {
            "customer_id": [1, 2, 4],
            "label": [1, 0, 1],
            "labelled_at": [t0 + timedelta(days=3), t0 - timedelta(days=1), t0 + timedelta(days=1)],
        }
    )
    rows = labelled(logged, labels, "customer_id")
    assert rows["customer_id"].tolist() == [1] and rows["label"].tolist() == [
        1
    ]  # 2: known before; 3, 4: no pair


def _logged(now: datetime, n: int = 600) -> pd.DataFrame:
    """n answers of version 1 that select women far more often than men (0.8 against 0.2), and 50 of a canary's
    version 2, as the server logs them."""
    ds = CFG.dataset
    customers = generate(n + 50, seed=3)
    female = (customers["gender"] == "Female").to_numpy()
    proba = np.where(female, 0.8, 0.2)
    return customers[[ds.id_column, *ds.numeric, *ds.categorical]].assign(
        ts=[now - timedelta(minutes=i + 1) for i in range(n + 50)],
        model_version=["1"] * n + ["2"] * 50,
        churn_probability=proba,
        prediction=(proba >= 0.5).astype(int),
        churn=customers["churn"],
    )


def _write_log(ws: Workspace, frame: pd.DataFrame, now: datetime) -> None:
    folder = ws.dir(PREFIX, f"date={now:%Y-%m-%d}")
    table = pa.Table.from_pandas(frame.drop(columns="churn"), preserve_index=False)
    table = table.set_column(
        table.schema.get_field_index("ts"), "ts", pa.array(frame["ts"], pa.timestamp("us", "UTC"))
    )
    pq.write_table(table, folder / "part-0.parquet")


def test_production_is_judged_once_labels_arrive_and_says_so_before(tmp_path: Path) -> None:
    ws, now = Workspace(tmp_path), datetime.now(UTC)  # answers logged in the minutes before now
    nothing = production(CFG, ws, TARGET, now)
    assert nothing["rows"] == 0 and "no production traffic of v1 logged" in nothing["note"]
    assert NO_LABELS in nothing["note"]
    frame = _logged(now)
    _write_log(ws, frame, now)
    unlabelled = production(CFG, ws, TARGET, now)
    assert (
        unlabelled["rows"] == 0 and unlabelled["note"].startswith(NO_LABELS) and unlabelled["logged"] == 600
    )
    engine = make_engine(warehouse_url(CFG.warehouse, ws))
    try:  # labels stamped now: after every answer
        write_labels(engine, CFG.drift.feedback_table, "customer_id", frame[["customer_id", "churn"]])
    finally:
        engine.dispose()
    found = production(CFG, ws, TARGET, now + timedelta(seconds=1))
    assert found["rows"] == 600  # the canary's 50 answers are not this version's
    assert set(found["features"]) == {"gender", "age_group", "region", "gender & age_group"}
    gender = found["features"]["gender"]
    assert (
        gender["groups"]["Female"]["selection_rate"] == 1.0
        and gender["groups"]["Male"]["selection_rate"] == 0
    )
    assert any(f.startswith("gender: demographic_parity_difference 1.000") for f in found["findings"])
    ages = frame[frame["model_version"] == "1"]["age"]
    assert (
        found["features"]["age_group"]["groups"]["60+"]["count"] == (ages > 60).sum()
    )  # (60, 200]: as trained


def test_a_column_that_is_no_model_input_is_not_in_the_log_and_said_so() -> None:
    cfg = load_config(
        overrides=[
            "dataset.attributes=[ethnicity]",
            "fairness.sensitive_features=[gender, ethnicity]",
            "fairness.intersections=[[ethnicity, region], [gender, region]]",
            "fairness.bootstrap_rounds=20",
        ],
        environ={},
    )
    rows = _logged(datetime(2026, 6, 1, tzinfo=UTC)).rename(columns={"churn": "label"})
    found = analyse_traffic(rows, 0.5, cfg)
    assert found["not_logged"] == ["ethnicity"] and set(found["features"]) == {"gender", "gender & region"}


def test_the_report_shows_holdout_and_production_side_by_side_or_that_no_label_came(tmp_path: Path) -> None:
    from common.fairness.analysis import analyse
    from common.fairness.report import render

    cfg = load_config(overrides=["fairness.bootstrap_rounds=20", "fairness.intersections=[]"], environ={})
    rows = _logged(datetime(2026, 6, 1, tzinfo=UTC)).rename(columns={"churn": "label"})
    features = rows.assign(age_group=np.where(rows["age"] >= 45, "45-59", "18-29"))
    holdout = analyse(features, rows["label"].to_numpy(), np.full(len(rows), 0.3), 0.5, None, cfg, tmp_path)
    holdout |= {"model": "m", "version": "1", "data": "holdout"}
    holdout["production"] = analyse_traffic(rows, 0.5, cfg) | {"source": "the log"}
    page = render(holdout, tmp_path)
    side = page[page.index("<h3>gender: holdout and production</h3>") :]
    female = side[side.index("<tr><td>Female</td>") : side.index("</tr>", side.index("<tr><td>Female</td>"))]
    count = int(holdout["features"]["gender"]["groups"]["Female"]["count"])
    # holdout rows, production rows, then each rate: the holdout selects nobody, production every woman
    assert female.startswith(f"<tr><td>Female</td><td>{count}</td><td>{count}</td><td>0.000 <small>")
    assert "<td>1.000 <small>[1.000, 1.000]</small></td>" in female
    holdout["production"] = {
        "rows": 0,
        "note": f"{NO_LABELS}: no label has arrived for the 600 customer(s) answered",
    }
    assert f"<h2>Production traffic</h2><p>{NO_LABELS}: no label has arrived for the 600" in render(
        holdout, tmp_path
    )


def test_the_card_says_in_a_line_what_production_showed() -> None:
    from common.model.card import production_line

    assert production_line(None) == "not analysed"  # a report from before production was read
    note = f"{NO_LABELS}: no label has arrived for the 12 customer(s) answered"
    assert production_line({"rows": 0, "note": note}) == note
    line = production_line(
        {"rows": 600, "findings": ["gender: demographic_parity_difference 0.6 [0.5, 0.7]"]}
    )
    assert line.startswith("600 labelled rows") and line.endswith(
        "gender: demographic_parity_difference 0.6 [0.5, 0.7]"
    )
    assert "no disparity past" in production_line({"rows": 600, "findings": []})
