"""OpenLineage naming, events and the emitter's promise: never fail a step, never lose an event."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openlineage.client.serde import Serde

from common.lineage.emitter import Lineage
from common.lineage.events import RunContext, run_event
from common.lineage.naming import DatasetRef, dataset_of
from common.settings import LineageCfg
from common.step import StepResult
from common.workspace import Workspace


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "postgresql+psycopg://etl:***@db.internal:5433/shop#customers",
            DatasetRef(
                "postgres://db.internal:5433",
                "shop.public.customers",
                "TABLE",
                None,
                "postgres://db.internal:5433",
            ),
        ),
        (
            "postgresql://etl@db/shop#analytics.customers",
            DatasetRef("postgres://db:5432", "shop.analytics.customers", "TABLE", None, "postgres://db:5432"),
        ),
        (
            "sqlite:////w/warehouse/warehouse.db#customers",
            DatasetRef(
                "sqlite:///w/warehouse/warehouse.db",
                "customers",
                "TABLE",
                None,
                "sqlite:///w/warehouse/warehouse.db",
            ),
        ),
        (
            "file:///w/raw/Telco%20Customers_1.parquet",
            DatasetRef("file", "/w/raw/Telco Customers_1.parquet", "FILE", None, "file"),
        ),
        (
            "s3://mlops/pre/raw/c.parquet",
            DatasetRef("s3://mlops", "pre/raw/c.parquet", "FILE", None, "s3://mlops"),
        ),
        (
            "dvc:///w/data-registry/data/c.parquet@data-v3",
            DatasetRef("file", "/w/data-registry/data/c.parquet", "FILE", "data-v3", "dvc"),
        ),
        (
            "feast://churn/customer_features",
            DatasetRef("feast://churn", "customer_features", "FEATURE_VIEW", None, "feast://churn"),
        ),
        ("models:/churn-predictor/7", DatasetRef("mlflow", "churn-predictor", "MODEL", "7", "mlflow")),
        (
            "http://127.0.0.1:8085/v1/models/churn-predictor:predict",
            DatasetRef(
                "http://127.0.0.1:8085",
                "/v1/models/churn-predictor:predict",
                "ENDPOINT",
                None,
                "http://127.0.0.1:8085",
            ),
        ),
        (
            "kserve://default/churn-predictor",
            DatasetRef("kserve://default", "churn-predictor", "ENDPOINT", None, "kserve://default"),
        ),
        (
            "git+file:///w/gitops/deploy.git#overlays/staging@3f1c2e9a",
            DatasetRef(
                "file:///w/gitops/deploy.git",
                "overlays/staging",
                "FILE",
                "3f1c2e9a",
                "file:///w/gitops/deploy.git",
            ),
        ),
        (
            "git+ssh://git@git.example.com/ml/deploy.git#overlays/production@9a8b7c6d",
            DatasetRef(
                "ssh://git@git.example.com/ml/deploy.git",
                "overlays/production",
                "FILE",
                "9a8b7c6d",
                "ssh://git@git.example.com/ml/deploy.git",
            ),
        ),
        ("gopher://x/y", DatasetRef("unknown", "gopher://x/y", "FILE")),
    ],
)
def test_datasets_are_named_by_the_openlineage_rules_or_stable_ones_of_ours(
    uri: str, expected: DatasetRef
) -> None:
    assert dataset_of(uri) == expected


ROOT = RunContext("run_all", "01900000-0000-7000-8000-000000000001", "PIPELINE")
PIPE = RunContext("uc1_churn_prediction", "01900000-0000-7000-8000-000000000002", "PIPELINE", ROOT)
STEP = RunContext("uc1_02_data_versioning_dvc", "01900000-0000-7000-8000-000000000003", "STEP", PIPE)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_complete_event_names_its_parent_root_and_datasets_once() -> None:
    result = StepResult(
        step=STEP.job,
        datasets_read=["file:///w/raw/c.parquet", "file:///w/raw/c.parquet"],
        datasets_written=["dvc:///w/reg/data/c.parquet@data-v1"],
    )
    event = Serde.to_dict(run_event("COMPLETE", STEP, "ns", result, now=NOW))
    assert event["eventType"] == "COMPLETE" and event["eventTime"] == "2026-03-01T12:00:00+00:00"
    assert event["job"]["namespace"] == "ns" and event["job"]["facets"]["jobType"]["jobType"] == "STEP"
    parent = event["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == PIPE.run_id and (parent["job"]["namespace"], parent["job"]["name"]) == (
        "ns",
        PIPE.job,
    )
    assert parent["root"]["run"]["runId"] == ROOT.run_id and parent["root"]["job"]["name"] == "run_all"
    assert [i["name"] for i in event["inputs"]] == ["/w/raw/c.parquet"]
    (out,) = event["outputs"]
    assert out["facets"]["version"]["datasetVersion"] == "data-v1"
    assert out["facets"]["datasetType"]["datasetType"] == "FILE"


def test_a_fail_event_carries_the_message_and_a_root_run_has_no_parent() -> None:
    event = Serde.to_dict(run_event("FAIL", ROOT, "ns", error="step x failed: boom", now=NOW))
    assert event["run"]["facets"]["errorMessage"]["message"] == "step x failed: boom"
    assert "parent" not in event["run"]["facets"] and event["inputs"] == [] == event["outputs"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_undeliverable_event_is_spooled_and_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = LineageCfg(backend="http", url=f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    lineage = Lineage(cfg, Workspace(tmp_path))
    with caplog.at_level(logging.WARNING, logger="common.lineage.emitter"):
        run = lineage.start("job", "STEP")
        lineage.complete(run, StepResult(step="job", datasets_written=["s3://b/k"]))
    spooled = [json.loads(line) for line in (tmp_path / "lineage" / "spool.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in spooled] == ["START", "COMPLETE"] and lineage.spooled == 2
    assert spooled[1]["outputs"][0]["namespace"] == "s3://b"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "cannot deliver to the http backend" in warnings[0]


def test_backend_none_writes_nothing_and_file_appends_jsonl(tmp_path: Path) -> None:
    Lineage(LineageCfg(backend="none"), Workspace(tmp_path / "a")).start("job", "STEP")
    assert not (tmp_path / "a" / "lineage").exists()
    lineage = Lineage(LineageCfg(), Workspace(tmp_path / "b"))
    run = lineage.start("job", "STEP")
    lineage.fail(run, "boom")
    lines = (tmp_path / "b" / "lineage" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in lines] == ["START", "FAIL"] and lineage.spooled == 0


def test_http_without_a_url_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"lineage\.backend http needs lineage\.url"):
        LineageCfg(backend="http")


def test_column_lineage_follows_derived_features_back_to_dataset_columns() -> None:
    from common.features.engineering import derived_inputs
    from common.settings import DerivedFeature, FeaturesCfg

    fcfg = FeaturesCfg(
        derived=[
            DerivedFeature(name="per_month", expr="total / (tenure + 1)"),
            DerivedFeature(name="high", flag="per_month > 100"),
            DerivedFeature(name="age_group", column="age", bins=[0, 30, 200], labels=["young", "old"]),
        ]
    )
    assert derived_inputs(fcfg) == {
        "per_month": ["tenure", "total"],
        "high": ["tenure", "total"],
        "age_group": ["age"],
    }


def test_parquet_facts_come_from_the_footer(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from common.data.schema import parquet_facts

    table = pa.table({"id": [1, 2, 3, 4], "x": [1.0, None, None, 2.0]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    facts = parquet_facts(tmp_path / "t.parquet")
    assert facts == {
        "schema": [{"name": "id", "type": "int64"}, {"name": "x", "type": "double"}],
        "rows": 4,
        "nulls": {"id": 0, "x": 2},
    }


def test_backfill_gives_the_same_run_ids_every_time_and_skips_its_own_runs(tmp_path: Path) -> None:
    from uc4_data_lineage.uc4_01_emit_lineage_openlineage import STEP as DELIVER
    from uc4_data_lineage.uc4_01_emit_lineage_openlineage import backfill_events, event_key

    ws = Workspace(tmp_path)
    ws.record(
        StepResult(step="uc1_01_x", datasets_written=["s3://b/k"], finished_at="2026-03-01T12:00:00+00:00")
    )
    ws.record(StepResult(step=DELIVER, finished_at="2026-03-01T12:05:00+00:00"))
    first, second = backfill_events(ws, "ns"), backfill_events(ws, "ns")
    assert [event_key(e) for e in first] == [event_key(e) for e in second]
    assert [(e["job"]["name"], e["eventType"]) for e in first] == [
        ("uc1_01_x", "START"),
        ("uc1_01_x", "COMPLETE"),
    ]
    assert first[1]["eventTime"] == "2026-03-01T12:00:00+00:00" and first[1]["outputs"][0]["name"] == "k"


def test_taking_the_spool_leaves_a_fresh_one_and_adopts_what_a_dead_run_left(tmp_path: Path) -> None:
    from common.lineage.emitter import append_line
    from uc4_data_lineage.uc4_01_emit_lineage_openlineage import _take_spool

    ws = Workspace(tmp_path / "ws")
    append_line(tmp_path / "spool.jsonl", json.dumps({"n": 1}))
    append_line(tmp_path / ".spool.jsonl.999999999", json.dumps({"n": 0}))  # taken by a run that died
    taken, torn = _take_spool(ws, tmp_path)
    append_line(tmp_path / "spool.jsonl", json.dumps({"n": 2}))  # a step spooling while the spool is sent
    assert sorted(e["n"] for _, batch in taken for e in batch) == [0, 1] and torn == 0
    assert all(path.exists() for path, _ in taken)  # kept until every event is delivered or spooled again
    for path, _ in taken:
        path.unlink()
    assert [e for _, batch in _take_spool(ws, tmp_path)[0] for e in batch] == [{"n": 2}]


def test_a_torn_spool_line_is_quarantined_and_the_good_events_are_still_taken(tmp_path: Path) -> None:
    """A kill mid-write leaves half a line; before, every delivery failed on it, naming no file, for good."""
    from common.lineage.emitter import append_line
    from common.quarantine import counts
    from uc4_data_lineage.uc4_01_emit_lineage_openlineage import _take_spool

    ws = Workspace(tmp_path / "ws")
    (tmp_path / ".spool.jsonl.999999998").write_text('{"n": 0}\n{"n": 1, "tor')  # hidden, renamed, then torn
    append_line(tmp_path / ".spool.jsonl.999999998", json.dumps({"n": 2}))  # starts on a line of its own
    taken, torn = _take_spool(ws, tmp_path)
    assert sorted(e["n"] for _, batch in taken for e in batch) == [0, 2] and torn == 1
    kept = list((tmp_path / "ws" / "quarantine" / "lineage-spool").iterdir())
    assert len(kept) == 1 and kept[0].read_text() == '{"n": 1, "tor\n' and counts(ws) == {"lineage-spool": 1}
    _take_spool(ws, tmp_path)  # seen again: not counted twice
    assert counts(ws) == {"lineage-spool": 1}


def test_delivery_with_no_backend_skips_when_nothing_waits_and_names_the_key_when_something_does(
    tmp_path: Path,
) -> None:
    from common.config import load_config
    from common.errors import ConfigError
    from common.lineage.emitter import append_line
    from uc4_data_lineage.uc4_01_emit_lineage_openlineage import run

    cfg = load_config(overrides=[f"workspace={tmp_path}", "lineage.backend=none"], environ={})
    skipped = run(cfg, Workspace(tmp_path))
    assert (skipped.status, skipped.outputs["reason"]) == ("skipped", "lineage.backend is none")
    append_line(tmp_path / "lineage" / "spool.jsonl", json.dumps({"n": 1}))
    with pytest.raises(ConfigError, match=r"lineage\.backend is none: set it to http, file or console"):
        run(cfg, Workspace(tmp_path))


def test_facts_of_the_wrong_shape_cost_the_event_not_the_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from common.cli import run_step
    from common.config import load_config

    cfg = load_config(overrides=[f"workspace={tmp_path}"], environ={})
    broken = StepResult(
        step="odd", datasets_read=["s3://b/k"], facts={"s3://b/k": {"schema": ["not a column"]}}
    )
    with caplog.at_level(logging.ERROR, logger="common.lineage.emitter"):
        assert run_step("odd", lambda _c, _w: broken, cfg, Workspace(tmp_path)) is broken
    lines = (tmp_path / "lineage" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in lines] == ["START"]
    assert "the COMPLETE event of odd could not be built: TypeError" in caplog.text
