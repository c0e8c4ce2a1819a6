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
from common.features.feast_store import open_store, repo_config
from common.model.kfp_pipeline import build_training_set
from common.step import StepResult
from common.workspace import Workspace
from feature_repo.definitions import declare
from tests.conftest import require_service
from uc1_churn_prediction import uc1_04_feature_engineering_feast as step04


def _validated(ws: Workspace, df: pd.DataFrame) -> None:
    """Stand in for steps 01-03: a validated extract recorded in the workspace."""
    path = ws.dir("data") / "customers.parquet"
    df.to_parquet(path, index=False)
    ws.record(StepResult(step="uc1_03_data_validation_ge", outputs={"path": str(path), "tag": "data-v1"}))


@pytest.mark.service
def test_materializes_into_redis_and_serves_online(workspace: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    project = f"t{uuid.uuid4().hex[:10]}"
    cfg = load_config(
        overrides=[f"workspace={workspace}", "features.online_store=redis", f"features.project={project}"],
        environ={},
    )
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
    store.apply(declare(cfg.features, cfg.dataset, str(source)))
    entities = base[["customer_id", "event_timestamp", "churn"]]
    entities.to_parquet(ws.dir("t") / "entities.parquet", index=False)
    out = types.SimpleNamespace(path=str(ws.dir("t") / "training.parquet"))
    rows = build_training_set(
        json.dumps(repo_config(cfg, ws)), str(ws.dir("t") / "entities.parquet"), "churn_model_v1", out
    )
    got = pd.read_parquet(out.path).set_index("customer_id")
    assert rows == 2
    assert got.loc[1, "age"] == base.loc[0, "age"] != 99.0  # the value stamped after the label time is unused
    assert got.loc[1, "churn"] == base.loc[0, "churn"]
