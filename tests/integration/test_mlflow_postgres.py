"""MLflow tracking and registry on a real PostgreSQL backend store: log, gate, register, load by alias."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features, feature_types
from common.model import training
from common.model.registry import HOLDOUT_ARTIFACT, log_candidate, run_gate
from common.model.tracking import client_for, experiment_id
from common.settings import GateCfg

pytestmark = pytest.mark.service
CFG = load_config(environ={})
TYPES = feature_types(CFG.features, CFG.dataset)


def test_candidate_logged_gated_registered_and_loadable_by_alias(pg_url: str, tmp_path: Path) -> None:
    import mlflow

    raw = generate(2000, seed=21)
    train, test = training.split(
        build_features(raw, CFG.features, CFG.dataset).assign(churn=raw["churn"]), "churn", 0.25, 0
    )
    model = training.make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, TYPES)
    model.fit(train[list(TYPES)], train["churn"])
    proba = model.predict_proba(test[list(TYPES)])[:, 1]
    info = {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500},
        "threshold": 0.45,
        "cv": {"roc_auc": 0.9},
        "test": training.scores(test["churn"], proba, 0.45),
    }
    training.plots(test["churn"], proba, 0.45, tmp_path / "plots", "lr")

    client = client_for(pg_url)
    exp = experiment_id(client, "churn_prediction", tmp_path / "artifacts")
    parent = client.create_run(exp, run_name="training").info.run_id
    holdout = test.assign(churn_probability=proba)
    child = log_candidate(
        pg_url, parent, "lr", model, info, tmp_path / "plots", test[list(TYPES)].head(3), holdout
    )
    gate = GateCfg(thresholds={"roc_auc": 0.75}, max_latency_ms=200)
    record = run_gate(pg_url, parent, gate, "churn-predictor", test, list(TYPES), "churn", "data-v1")

    assert record["passed"] and record["promote"] and record["version"] == "1" and record["run_id"] == child
    version = client.get_model_version_by_alias("churn-predictor", "champion")
    assert str(version.version) == "1" and version.tags["decision_threshold"] == "0.45"
    assert str(client.get_model_version_by_alias("churn-predictor", "challenger").version) == "1"
    champion = mlflow.sklearn.load_model("models:/churn-predictor@champion")
    assert champion.predict_proba(test[list(TYPES)].head(5)).shape == (5, 2)
    assert (
        sorted(client.list_artifacts(child, "plots"), key=lambda a: a.path)[0].path
        == "plots/confusion_matrix.png"
    )
    assert client.get_run(parent).data.tags["gate.passed"] == "true"
    # the holdout with its probabilities, what drift and fairness compare with, travels with the run
    logged = pd.read_parquet(client.download_artifacts(child, HOLDOUT_ARTIFACT, str(tmp_path)))
    assert len(logged) == len(test) and np.allclose(logged["churn_probability"], proba)
    # the version's artifacts hold model.pkl, the file KServe's sklearn runtime loads from a storageUri
    download = client.get_model_version_download_uri("churn-predictor", "1")
    assert (Path(download.removeprefix("file://")) / "model.pkl").is_file()
