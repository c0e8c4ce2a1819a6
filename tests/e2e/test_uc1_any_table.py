"""The whole lifecycle on a customers table of another shape by config alone (examples/telco_churn.yaml): text
ids, Yes/No labels, numbers stored as text with blanks, mixed-case names and a space, no timestamp column, a 0/1
column as a sensitive feature; loaded into the embedded warehouse by the project's generator, and run twice with
`run_all.py --config`, as the README walks through it. The second run on the unchanged table makes no new data or
model version; the server answers the table's own rows, as the extract has them and as the warehouse holds them."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_script, serving_port, summary_of

CONFIG = "examples/telco_churn.yaml"
PIPELINE = "uc1_churn_prediction/run_pipeline.py"
MODEL = "telco-churn"
SIX = ["uc1", "uc2", "uc3", "uc5", "uc4", "uc6"]


def _load_table(ws: Path) -> Path:
    done = run_script("examples/telco_customers.py", "--config", CONFIG, workspace=ws, fast=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return ws / "warehouse" / "warehouse.db"


@pytest.fixture(scope="module")
def telco(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], list[str]]:
    """The table loaded, then run_all twice; (workspace, both run_all summaries, three ids of the table)."""
    ws = tmp_path_factory.mktemp("telco") / "ws"
    with sqlite3.connect(_load_table(ws)) as db:
        ids = [r[0] for r in db.execute('SELECT "customerID" FROM telco_customers ORDER BY rowid LIMIT 3')]
    runs = []
    for _ in range(2):
        proc = run_script("run_all.py", "--config", CONFIG, workspace=ws, fast=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(summary_of(proc))
    return ws, runs, ids


def test_run_all_lists_six_use_cases_and_a_second_run_makes_no_new_version(telco: tuple) -> None:
    ws, runs, _ = telco
    for report in runs:
        assert [uc["use_case"] for uc in report["use_cases"]] == SIX
        assert all(uc["status"] in ("ok", "skipped") for uc in report["use_cases"]), report["use_cases"]
    tags = subprocess.run(
        ["git", "-C", str(ws / "data-registry"), "tag", "--list"], capture_output=True, text=True, check=True
    )
    assert tags.stdout.split() == ["data-v1"]
    assert len(list((ws / "objects" / "mlops" / "raw").glob("*.parquet"))) == 1  # the extract stands
    from mlflow import MlflowClient

    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)  # the registry too: else MLflow's process-wide default
    assert [str(mv.version) for mv in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
    second = {s["step"]: s for s in runs[1]["use_cases"][0]["steps"]}
    assert second["uc1_05_model_training_kubeflow"]["status"] == "skipped"
    uc2 = runs[1]["use_cases"][1]
    assert (
        uc2["status"] == "skipped" and "the champion itself" in uc2["reason"]
    )  # no canary of the same model


def test_a_0_1_column_is_a_sensitive_feature_of_two_groups(telco: tuple) -> None:
    ws, _, _ = telco
    report = json.loads((ws / "reports" / "fairness" / f"{MODEL}-v1" / "fairness.json").read_text())
    assert sorted(report["features"]["SeniorCitizen"]["groups"]) == ["0", "1"]
    assert report["features"]["SeniorCitizen"]["flip_rate"] is not None  # an input: its flip is measured
    assert report["verdict"] in ("passed", "inconclusive", "warn")
    card = (ws / "reports" / "model_card" / f"{MODEL}-v1" / "model_card.md").read_text()
    assert f"Verdict: **{report['verdict']}** (version tag `fairness={report['verdict']}`)" in card
    assert "Rank subscribers for a retention call" in card and "Not stated" not in card


@pytest.mark.parametrize("source", ["extract", "warehouse"])
def test_the_server_answers_the_tables_own_rows(telco: tuple, tmp_path: Path, source: str) -> None:
    """Every column of every row, as the extract has it (parsed) or as the warehouse returns it (TotalCharges as
    text with blanks, Churn as Yes/No): every answer is 200."""
    ws, _, _ = telco
    endpoint = f"http://127.0.0.1:{serving_port(ws)}/v1/models/{MODEL}:predict"
    if source == "extract":
        extract = shutil.copy(next((ws / "objects" / "mlops" / "raw").glob("*.parquet")), tmp_path)
        which = ["--data", str(extract)]
    else:
        which = ["--table"]
    args = [*which, "--endpoint", endpoint, "--rate", "1000", "--duration", "2", "--config", CONFIG]
    proc = run_script("-m", "common.experiment.replay", *args, workspace=ws, fast=False)
    said = summary_of(proc)
    assert proc.returncode == 0 and said["answers"] == {"200": 2000}, said


def _post(ws: Path, path: str, body: Any) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{serving_port(ws)}{path}"
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_the_table_runs_through_every_step_to_a_served_champion(telco: tuple) -> None:
    ws, runs, _ = telco
    assert [s["status"] for s in runs[0]["use_cases"][0]["steps"]] == ["ok"] * 7  # UC1's steps 01-07
    state = json.loads((ws / "state" / "steps.json").read_text())
    training, validation = state["uc1_05_model_training_kubeflow"], state["uc1_03_data_validation_ge"]
    assert training["metrics"]["roc_auc"] >= 0.8 and "champion" in training["outputs"]["aliases"]
    report = json.loads(Path(validation["outputs"]["report"]).read_text())
    blanks = report["parsing"]["TotalCharges"]["blank_to_null"]
    assert blanks > 0 and report["parsing"]["TotalCharges"]["null_after"] == blanks
    assert report["parsing"]["Churn"]["to_1"] + report["parsing"]["Churn"]["to_0"] == 2000


def test_a_text_id_is_answered_from_the_online_store_and_returned_unchanged(telco: tuple) -> None:
    ws, _, ids = telco
    status, body = _post(ws, f"/v1/models/{MODEL}:predict", {"instances": [{"customerID": i} for i in ids]})
    assert status == 200, body
    assert [p["customerID"] for p in body["predictions"]] == ids
    assert all(0.0 <= p["churn_probability"] <= 1.0 for p in body["predictions"])


def test_an_unknown_text_id_is_a_400_naming_it(telco: tuple) -> None:
    ws, _, _ = telco
    status, body = _post(ws, f"/v1/models/{MODEL}:predict", {"instances": [{"customerID": "0000-NOBODY"}]})
    assert status == 400
    assert (
        body["error"] == "instances[0].customerID: unknown customer '0000-NOBODY' (not in the online store)"
    )


def test_v2_takes_and_returns_text_ids_as_bytes(telco: tuple) -> None:
    ws, _, ids = telco
    request = {"inputs": [{"name": "customerID", "datatype": "BYTES", "shape": [2], "data": ids[:2]}]}
    status, body = _post(ws, f"/v2/models/{MODEL}/infer", request)
    assert status == 200, body
    out = {o["name"]: o for o in body["outputs"]}
    assert out["customerID"]["datatype"] == "BYTES" and out["customerID"]["data"] == ids[:2]
    assert len(out["churn_probability"]["data"]) == 2


def test_a_full_customer_with_the_names_as_the_warehouse_has_them_is_scored(telco: tuple) -> None:
    ws, _, _ = telco
    customer = {
        "customerID": "9999-NEWCO",
        "SeniorCitizen": 0,
        "tenure": 0,
        "MonthlyCharges": 80.5,
        "TotalCharges": None,  # a new customer: blank in the warehouse, missing here
        "gender": "Male",
        "Partner": "No",
        "Dependents": "No",
        "PhoneService": "Yes",
        "InternetService": "Fiber optic",
        "Contract": "Month-to-month",
        "PaperlessBilling": "Yes",
        "Payment Method": "Electronic check",
    }
    status, body = _post(ws, f"/v1/models/{MODEL}:predict", {"instances": [customer]})
    assert status == 200, body
    assert body["predictions"][0]["customerID"] == "9999-NEWCO"
    assert body["predictions"][0]["prediction"] == 1  # every churn driver of the table at once


def test_one_non_number_in_the_text_column_exits_3_naming_it(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    with sqlite3.connect(_load_table(ws)) as db:
        db.execute("UPDATE telco_customers SET \"TotalCharges\" = 'abc' WHERE rowid = 17")
    proc = run_script(PIPELINE, "--config", CONFIG, workspace=ws, fast=False)
    assert proc.returncode == 3, proc.stderr[-3000:]
    steps = {s["step"]: s for s in summary_of(proc)["steps"]}
    error = steps["uc1_01_data_ingestion_postgres"]["error"]
    assert "column TotalCharges: 1 value(s) are not numbers, e.g. ['abc']" in error
    assert steps["uc1_02_data_versioning_dvc"]["status"] == "not run"
    assert not list((ws / "objects").rglob("*.parquet"))  # nothing uploaded
