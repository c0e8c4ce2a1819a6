"""Feast: materialization into Redis (the real online store) and point-in-time correct training sets."""

import json
import types
import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features
from common.features.feast_store import feast_names, open_store, repo_config
from common.model.kfp_pipeline import build_training_set
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from feature_repo.definitions import declare
from tests.conftest import require_service
from uc1_churn_prediction import uc1_04_feature_engineering_feast as step04


def _validated(ws: Workspace, df: pd.DataFrame, **outputs: str) -> None:
    """Stand in for steps 01-03: a validated extract recorded in the workspace."""
    path = ws.dir("data") / "customers.parquet"
    df.to_parquet(path, index=False)
    ws.record(
        StepResult(step="uc1_03_data_validation_ge", outputs={"path": str(path), "tag": "data-v1", **outputs})
    )


def _redis_config(workspace: Path) -> Settings:
    """The default config on Redis, under a Feast project of the test's own."""
    return load_config(
        overrides=[
            f"workspace={workspace}",
            "features.online_store=redis",
            f"features.project=t{uuid.uuid4().hex[:10]}",
        ],
        environ={},
    )


@pytest.mark.service
def test_materializes_into_redis_and_serves_online(workspace: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    cfg = _redis_config(workspace)
    ws = Workspace(workspace)
    df = generate(300, seed=2)
    _validated(ws, df)
    result = step04.run(cfg, ws)
    store = open_store(result.outputs["repo_config"])
    try:
        assert result.outputs["online_store"] == "redis" and result.metrics["entities_materialized"] == 300
        online = store.get_online_features(
            features=store.get_feature_service("churn_model_v1"),
            entity_rows=[{"customer_id": 7}, {"customer_id": 299}],
        ).to_dict()
        expected = build_features(df, cfg.features, cfg.dataset).set_index("customer_id")
        assert online["age"] == [expected.loc[7, "age"], expected.loc[299, "age"]]
        assert online["age_group"] == [expected.loc[7, "age_group"], expected.loc[299, "age_group"]]
        assert redis.Redis(host="127.0.0.1", port=6379).dbsize() > 0
        again = step04.run(cfg, ws)  # incremental: nothing new since the last window
        assert again.metrics["entities_materialized"] == 0
    finally:
        store.teardown()


def test_training_set_is_point_in_time_correct(workspace: Path) -> None:
    cfg = load_config(overrides=[f"workspace={workspace}"], environ={})
    ws = Workspace(workspace)
    base = generate(2, seed=3)
    label_time = base.loc[0, "event_timestamp"]
    later = base.iloc[[0]].assign(
        age=99.0, event_timestamp=label_time + timedelta(days=30)
    )  # after the label
    features = build_features(pd.concat([base, later], ignore_index=True), cfg.features, cfg.dataset)
    source = ws.dir("features") / "customer_features.parquet"
    features.to_parquet(source, index=False)
    store = open_store(repo_config(cfg, ws))
    store.apply(declare(cfg.features, cfg.dataset, str(source), "int"))
    entities = base[["customer_id", "event_timestamp", "churn"]]
    entities.to_parquet(ws.dir("t") / "entities.parquet", index=False)
    out = types.SimpleNamespace(path=str(ws.dir("t") / "training.parquet"))
    rows = build_training_set(
        json.dumps(repo_config(cfg, ws)),
        str(ws.dir("t") / "entities.parquet"),
        "churn_model_v1",
        json.dumps(feast_names(cfg.features, cfg.dataset)),
        out,
    )
    got = pd.read_parquet(out.path).set_index("customer_id")
    assert rows == 2
    assert got.loc[1, "age"] == base.loc[0, "age"] != 99.0  # the value stamped after the label time is unused
    assert got.loc[1, "churn"] == base.loc[0, "churn"]


def test_text_ids_and_names_feast_refuses_go_in_and_come_back_as_the_warehouse_has_them(
    workspace: Path,
) -> None:
    """A string join key, no timestamp column (the extraction stamp), a name with ':' (mapped for Feast), one with
    a space: step 04, the training set and the server's online read all use the warehouse's names."""
    from common.serving.contract import BadRequestError
    from common.serving.server import ChurnModel
    from common.settings import DatasetCfg, DerivedFeature

    base = load_config(overrides=[f"workspace={workspace}"], environ={})
    ds = DatasetCfg(
        table="t",
        id_column="customerID",
        id_type="str",
        target="Churn",
        timestamp=None,
        numeric=["plan:price", "Monthly Charges"],
        categorical=["class"],
    )
    fcfg = base.features.model_copy(
        update={"derived": [DerivedFeature(name="half:price", expr="`plan:price` / 2")], "project": "texts"}
    )
    cfg = base.model_copy(update={"dataset": ds, "features": fcfg})
    ws = Workspace(workspace)
    stamp = pd.Timestamp.now(tz="UTC").floor("s") - timedelta(hours=1)
    df = pd.DataFrame(
        {
            "customerID": ["7590-VHVEG", "5575-GNVDE", "0042"],
            "extracted_at": [stamp] * 3,
            "plan:price": [10.0, 20.0, 30.0],
            "Monthly Charges": [1.5, 2.5, 3.5],
            "class": ["a", "b", None],
            "Churn": [1, 0, 1],
        }
    )
    _validated(ws, df, id_type="str")
    result = step04.run(cfg, ws)
    assert result.metrics["entities_materialized"] == 3 and result.outputs["id_type"] == "str"
    assert (
        "plan_price" in pd.read_parquet(result.outputs["offline_source"]).columns
    )  # Feast's name, in Feast only

    entities = df[["customerID", "extracted_at", "Churn"]]
    entities.to_parquet(ws.dir("t") / "entities.parquet", index=False)
    out = types.SimpleNamespace(path=str(ws.dir("t") / "training.parquet"))
    build_training_set(
        json.dumps(result.outputs["repo_config"]),
        str(ws.dir("t") / "entities.parquet"),
        fcfg.feature_service,
        json.dumps(feast_names(fcfg, ds)),
        out,
    )
    got = pd.read_parquet(out.path).set_index("customerID")
    assert {"plan:price", "half:price", "Monthly Charges", "class", "Churn"} <= set(got.columns)
    assert got.loc["0042", "half:price"] == 15.0 and got.loc["7590-VHVEG", "Churn"] == 1

    spec = {"model_name": "m", "version": "1", "decision_threshold": 0.5, "max_batch": 10}
    model = ChurnModel({**spec, "dataset": ds.model_dump(), "features": fcfg.model_dump()})
    store = open_store(result.outputs["repo_config"])
    model.store, model.service = store, store.get_feature_service(fcfg.feature_service)
    model.feast_names = feast_names(fcfg, ds)
    online = model._online({0: "0042", 1: "5575-GNVDE"})
    assert online["customerID"].tolist() == ["0042", "5575-GNVDE"]  # as sent: "0042" stays text
    assert online["plan:price"].tolist() == [30.0, 20.0] and online["class"].tolist() == [None, "b"]
    with pytest.raises(BadRequestError, match=r"instances\[0\]\.customerID: unknown customer '42'"):
        model._online({0: "42"})


@pytest.mark.service
def test_batched_materialization_keeps_each_customers_newest_row_across_groups_and_workers(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer with rows in two row groups, dealt to two worker processes, is served its newest row in the
    window; a row after the window's end is not written, and the window is recorded for the next run."""
    require_service("Redis", "127.0.0.1", 6379)
    from datetime import UTC, datetime

    from common.chain import features as chain_features
    from common.features import materialize as m

    monkeypatch.setattr(chain_features, "GROUP_ROWS", 100)  # 4 row groups: 300 customers and 2 more rows
    monkeypatch.setattr(m, "IN_PROCESS_ROWS", 0)  # workers even for a few rows
    cfg = _redis_config(workspace)
    ws = Workspace(workspace)
    df = generate(300, seed=5)
    now = datetime.now(UTC)
    newer = df.iloc[[7]].assign(age=77.0, event_timestamp=now - timedelta(days=1))  # the newest of 7: written
    future = df.iloc[[9]].assign(age=99.0, event_timestamp=now + timedelta(days=30))  # after the window
    _validated(ws, pd.concat([df, newer, future], ignore_index=True))
    result = step04.run(cfg, ws)
    store = open_store(result.outputs["repo_config"])
    try:
        assert pq_groups(Path(result.outputs["offline_source"])) == 4
        assert result.metrics == {"rows": 302, "entities_materialized": 300}
        ids = [int(df.loc[7, "customer_id"]), int(df.loc[9, "customer_id"])]
        online = store.get_online_features(
            features=["customer_features:age"], entity_rows=[{"customer_id": i} for i in ids]
        ).to_dict()
        assert online["age"] == [77.0, df.loc[9, "age"]]
        view = store.get_feature_view("customer_features")
        assert view.most_recent_end_time is not None and view.most_recent_end_time >= now - timedelta(
            minutes=5
        )
    finally:
        store.teardown()


def pq_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_row_groups


def test_newest_rows_keeps_the_last_time_of_each_id_inside_the_window(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from common.features.materialize import newest_rows

    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4, 5)]
    df = pd.DataFrame({"id": [1, 2, 1, 1, 2, 3], "ts": [t[0], t[1], t[2], t[4], t[0], t[3]]})
    df.to_parquet(tmp_path / "s.parquet", index=False)
    window = (t[0], t[3])  # start exclusive: the rows at t[0] are out; end inclusive: t[3] is in
    # id 1: t[2] (position 2; t[4] is past the end); id 2: t[1] (position 1); id 3: t[3] (position 5)
    assert newest_rows(tmp_path / "s.parquet", ("id", "ts"), window).tolist() == [1, 2, 5]
