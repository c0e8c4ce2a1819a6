"""UC1's steps 01 to 05 as a user runs them, one script at a time, in one fresh workspace trained once for the
module; a test that changes the data works on its own copy, so no test depends on another's order."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine

from common.config import load_config
from common.data.sample_data import generate
from common.errors import EXIT_GATE
from common.features.engineering import build_features, feature_types
from tests.conftest import run_script, summary_of

UC1 = "uc1_churn_prediction"
MODEL = "churn-predictor"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Steps 01-03, then 04 and 05 as standalone scripts: v1, the champion. Tests read it; one that changes the
    registry or the data does it in a copy, or asserts only what its own act changed."""
    workspace = tmp_path_factory.mktemp("training") / "ws"
    said = {}
    for step in ("uc1_01_data_ingestion_postgres", "uc1_02_data_versioning_dvc", "uc1_03_data_validation_ge"):
        proc = run_script(f"{UC1}/{step}.py", workspace=workspace)
        assert proc.returncode == 0, proc.stderr[-3000:]
        said[step] = summary_of(proc)
    features = run_script(f"{UC1}/uc1_04_feature_engineering_feast.py", workspace=workspace)
    assert features.returncode == 0, features.stderr[-3000:]
    training = run_script(f"{UC1}/uc1_05_model_training_kubeflow.py", workspace=workspace)
    assert training.returncode == 0, training.stderr[-3000:]
    return {"ws": workspace, **said, "features": summary_of(features), "training": summary_of(training)}


@pytest.fixture
def ws(trained: dict[str, Any]) -> Path:
    return trained["ws"]


def _client(ws: Path):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def _versions(ws: Path) -> list[str]:
    return sorted(str(v.version) for v in _client(ws).search_model_versions(f"name='{MODEL}'"))


def test_steps_01_to_03_standalone_extract_version_and_validate(trained: dict[str, Any]) -> None:
    ws, extract = trained["ws"], trained["uc1_01_data_ingestion_postgres"]
    assert extract["metrics"]["rows"] == 2000 and Path(extract["outputs"]["uri"][7:]).exists()
    version = trained["uc1_02_data_versioning_dvc"]["outputs"]
    assert version["tag"] == "data-v1" and version["created"] is True
    assert (ws / "data-registry" / "data" / "customers.parquet.dvc").exists()
    assert list((ws / "dvc-remote").rglob("*"))  # pushed to the default local remote
    report = json.loads(Path(trained["uc1_03_data_validation_ge"]["outputs"]["report"]).read_text())
    assert report["success"] is True
    assert (ws / "reports" / "data_docs" / "index.html").exists()
    assert (ws / "logs" / "uc1_03_data_validation_ge.log").read_text()


def test_features_then_training_standalone_make_a_loadable_champion(trained: dict[str, Any]) -> None:
    import mlflow

    ws = trained["ws"]
    assert trained["features"]["metrics"]["entities_materialized"] == 2000
    out = trained["training"]["outputs"]
    assert out["aliases"] == ["challenger", "champion"] and out["version"] == "1"
    assert "registered as challenger and champion: there was no champion" in out["reasons"]
    assert Path(out["pipeline_yaml"]).exists()

    client = _client(ws)
    version = client.get_model_version_by_alias(MODEL, "champion")
    assert float(version.tags["decision_threshold"]) == pytest.approx(out["decision_threshold"])
    assert json.loads(version.tags["gate.reasons"]) == out["reasons"]
    assert client.list_artifacts(out["parent_run_id"], "pipeline")[0].path.endswith("churn_training.yaml")
    cfg = load_config(environ={})
    rows = build_features(generate(5, seed=99), cfg.features, cfg.dataset)[
        list(feature_types(cfg.features, cfg.dataset))
    ]
    proba = mlflow.sklearn.load_model(f"models:/{MODEL}@champion").predict_proba(rows)
    assert proba.shape == (5, 2) and ((proba >= 0) & (proba <= 1)).all()


def test_a_second_worse_training_stays_challenger(ws: Path) -> None:
    worse = {
        "MLOPS__TRAINING__CANDIDATES": "[{name: stump, estimator: sklearn.tree.DecisionTreeClassifier, "
        "params: {max_depth: 1}}]",
        "MLOPS__TRAINING__GATE__THRESHOLDS": "{roc_auc: 0.6}",
        "MLOPS__TRAINING__GATE__REGRESSION_TOLERANCE": "0.5",
    }
    before = _versions(ws)
    proc = run_script(f"{UC1}/uc1_05_model_training_kubeflow.py", workspace=ws, env=worse)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = summary_of(proc)["outputs"]
    assert out["version"] == str(len(before) + 1) == "2" and out["aliases"] == ["challenger"]
    assert any("the champion stays" in r for r in out["reasons"])
    client = _client(ws)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"


def test_shuffled_labels_fail_the_gate_and_leave_the_registry_unchanged(ws: Path, tmp_path: Path) -> None:
    import shutil

    ws = Path(
        shutil.copytree(ws, tmp_path / "ws")
    )  # its own table and registry: the module's stay as they are
    before = _versions(ws)
    engine = create_engine(f"sqlite:///{ws / 'warehouse' / 'warehouse.db'}")
    df = pd.read_sql_table("customers", engine)
    df["churn"] = df["churn"].sample(frac=1.0, random_state=1).to_numpy()  # labels carry no signal now
    df.to_sql("customers", engine, if_exists="replace", index=False)
    engine.dispose()

    proc = run_script(f"{UC1}/run_pipeline.py", workspace=ws)
    assert proc.returncode == EXIT_GATE, proc.stderr[-3000:]
    steps = summary_of(proc)["steps"]
    assert [s["status"] for s in steps] == ["ok"] * 4 + ["failed", "not run", "not run"]
    message = steps[4]["error"]
    assert (
        "failed the evaluation gate" in message and "nothing registered, the champion is unchanged" in message
    )
    assert "roc_auc 0." in message and "< 0.75" in message  # each unmet threshold is listed
    assert _versions(ws) == before
    assert str(_client(ws).get_model_version_by_alias(MODEL, "champion").version) == "1"


def test_the_in_process_runner_trains_what_the_subprocess_runner_trains(ws: Path, tmp_path: Path) -> None:
    """kubeflow.local_runner: the same pipeline on the same data gives the same model, threshold and figures
    in this process as in a fresh process per task (kfp.local's SubprocessRunner). Each runner trains a candidate
    the module's workspace has not trained, in a copy of its own."""
    import shutil

    inprocess = Path(shutil.copytree(ws, tmp_path / "inprocess"))
    subprocess_ws = Path(shutil.copytree(ws, tmp_path / "subprocess"))
    one = {
        "MLOPS__TRAINING__CANDIDATES": "[{name: forest, estimator: sklearn.ensemble.RandomForestClassifier, "
        "params: {n_estimators: 20, max_depth: 6, random_state: 0}}]",
        "MLOPS__TRAINING__GATE__REGRESSION_TOLERANCE": "1",  # beside the champion or not: the figures compared
    }
    runs, printed = {}, {}
    for runner, workspace in (("inprocess", inprocess), ("subprocess", subprocess_ws)):
        proc = run_script(
            f"{UC1}/uc1_05_model_training_kubeflow.py",
            workspace=workspace,
            env={**one, "MLOPS__KUBEFLOW__LOCAL_RUNNER": runner},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[runner], printed[runner] = summary_of(proc), _plain(proc.stderr + proc.stdout)
        assert "Executing task 'train-candidate'" in printed[runner]  # kfp.local walked the pipeline
    # only a task process runs kfp.dsl.executor_main, whose log lines start so
    assert "[KFP Executor" in printed["subprocess"] and "[KFP Executor" not in printed["inprocess"]
    mine, theirs = runs["inprocess"], runs["subprocess"]
    assert mine["metrics"] == theirs["metrics"] and mine["metrics"]["roc_auc"] > 0.7
    assert mine["outputs"]["decision_threshold"] == pytest.approx(theirs["outputs"]["decision_threshold"])
    assert mine["outputs"]["candidate"] == theirs["outputs"]["candidate"] == "forest"


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
