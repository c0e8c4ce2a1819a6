"""UC3 as a user runs it, in one workspace: UC1 serves v1 and logs what it scores; unchanged customers are no
drift; a drifted batch with its labels retrains v2 as challenger (the champion stays); a second run within the
cool-down and a window too small change nothing. The fixture plays the story once; the tests read it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_script, serving_port, summary_of

MODEL = "churn-predictor"
SERVE = "uc1_churn_prediction/uc1_06_model_serving_kserve.py"
UC3 = "uc3_drift_retraining/run_pipeline.py"
DETECT = "uc3_drift_retraining/uc3_01_drift_detection_evidently.py"
FAST_LOG = {"MLOPS__SERVING__INFERENCE_LOG__FLUSH_S": "1"}
DRIFTED = ["--rows", "2000", "--drift", "--append", "--id-offset", "100000", "--seed", "7"]


def _send(base: str, customers: list[dict[str, Any]]) -> dict[int, float]:
    """Score customers 200 at a time; their probabilities by id."""
    scored = {}
    for i in range(0, len(customers), 200):
        body = json.dumps({"instances": customers[i : i + 200]}).encode()
        request = urllib.request.Request(
            f"{base}/v1/models/{MODEL}:predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        scored |= {p["customer_id"]: p["churn_probability"] for p in answer["predictions"]}
    return scored


def _customers(df: Any) -> list[dict[str, Any]]:
    return json.loads(df.drop(columns=["churn", "event_timestamp"]).to_json(orient="records"))


def logged(ws: Path) -> Any:
    files = sorted((ws / "inference-log").rglob("part-*.parquet"))
    return pq.read_table(files).to_pandas() if files else None


def _uc3(ws: Path, *args: str, script: str = UC3, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = run_script(script, *args, workspace=ws, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((ws / "state" / "steps.json").read_text())
    return {"summary": summary_of(proc), "state": state}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import pandas as pd

    from common.data.sample_data import generate

    ws = tmp_path_factory.mktemp("drift") / "ws"
    base = f"http://127.0.0.1:{serving_port(ws)}"
    proc = run_script("uc1_churn_prediction/run_pipeline.py", workspace=ws, env=FAST_LOG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((ws / "state" / "steps.json").read_text())
    known = pd.read_parquet(state["uc1_03_data_validation_ge"]["outputs"]["path"]).head(650)
    out: dict[str, Any] = {"ws": ws, "scored": _send(base, _customers(known.head(600)))}
    deadline = time.monotonic() + 15
    while ((rows := logged(ws)) is None or len(rows) < 601) and time.monotonic() < deadline:
        time.sleep(0.2)
    out["after_flush"] = rows
    out["scored"] |= _send(base, _customers(known.tail(50)))
    assert run_script(SERVE, "--stop", workspace=ws).returncode == 0  # the last rows are written at shutdown
    out["after_stop"] = logged(ws)
    out["calm"] = _uc3(ws)
    assert run_script("common/data/sample_data.py", *DRIFTED, workspace=ws).returncode == 0
    assert run_script(SERVE, workspace=ws, env=FAST_LOG).returncode == 0
    _send(base, _customers(generate(2000, seed=7, drift=True, id_offset=100000)))
    assert run_script(SERVE, "--stop", workspace=ws).returncode == 0
    feedback = run_script("common/data/sample_data.py", "--feedback", workspace=ws)
    out["feedback"] = summary_of(feedback)
    out["drifted"] = _uc3(ws)
    out["cooldown"] = _uc3(ws)
    out["extract"] = _uc3(ws, script=DETECT, env={"MLOPS__DRIFT__CURRENT": "latest_extract"})
    out["small"] = _uc3(ws, script=DETECT, env={"MLOPS__DRIFT__MIN_ROWS": "100000"})
    return out


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in run["summary"]["steps"]}


def _detected(run: dict[str, Any]) -> dict[str, Any]:
    return run["state"]["uc3_01_drift_detection_evidently"]["outputs"]


def _registry(ws: Path) -> Any:
    from common.model.tracking import client_for

    return client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")


def test_every_scored_customer_is_logged_with_its_version_and_probability(story: dict[str, Any]) -> None:
    flushed, stopped = story["after_flush"], story["after_stop"]
    assert flushed is not None and len(flushed) == 601  # 600 sent and step 06's smoke test, within a flush
    assert len(stopped) == 651  # and the 50 sent just before --stop, written at shutdown
    mine = stopped[stopped["customer_id"].isin(list(story["scored"]))]
    assert mine["customer_id"].nunique() == 650 and set(mine["model_version"]) == {"1"}
    for customer, probability in story["scored"].items():  # step 06's smoke test may have scored one already
        assert set(mine.loc[mine["customer_id"] == customer, "churn_probability"].round(6)) == {probability}
    assert {"age", "contract", "charges_per_month", "prediction", "latency_ms", "ts"} <= set(stopped.columns)


def test_unchanged_customers_are_no_drift_and_no_retrain(story: dict[str, Any]) -> None:
    calm = story["calm"]
    detected = _detected(calm)
    assert detected["decision"] == "none" and detected["drifted"] == [] and detected["fdr_drifted"] == []
    retrain = _steps(calm)["uc3_02_trigger_retrain_kubeflow"]
    assert retrain["status"] == "skipped" and retrain["reason"].startswith(
        "drift decision none: 0 of 12 columns"
    )


def test_a_drifted_batch_retrains_a_challenger_and_the_champion_stays(story: dict[str, Any]) -> None:
    ws, drifted = story["ws"], story["drifted"]
    detected = _detected(drifted)
    assert detected["decision"] == "retrain"
    assert {"age", "monthly_charges", "support_tickets_count"} <= set(detected["drifted"])
    assert story["feedback"]["rows"] >= 2000  # the drifted customers' labels arrived
    performance = json.loads(Path(detected["report"]).read_text())["performance"]
    assert performance["labelled"] >= 2000 and set(performance["drops"]) == {"roc_auc", "recall"}
    retrained = drifted["state"]["uc3_02_trigger_retrain_kubeflow"]["outputs"]
    assert (retrained["version"], retrained["aliases"], retrained["data_tag"]) == (
        "2",
        ["challenger"],
        "data-v2",
    )
    client = _registry(ws)
    aliases = client.get_registered_model(MODEL).aliases
    assert (aliases["champion"], aliases["challenger"]) == (1, 2)
    v2 = client.get_model_version(MODEL, "2").tags
    assert json.loads(v2["drift.reasons"]) == detected["reasons"] and v2["data_tag"] == "data-v2"
    assert "registered as challenger only" in json.loads(v2["gate.reasons"])[-1]
    html = Path(detected["html"]["data_drift"]).read_text()
    assert "<script src=" not in html and 'rel="stylesheet" href="http' not in html  # opens offline
    assert Path(detected["html"]["prediction_drift"]).is_file()
    summary = json.loads(Path(detected["report"]).read_text())
    assert (
        summary["rows"]["current"] == summary["rows"]["compared"] > 2000 and not summary["current"]["sampled"]
    )


def test_the_drifted_batch_is_judged_per_column_and_estimated_without_labels(story: dict[str, Any]) -> None:
    from prometheus_client import generate_latest

    from common.drift.outputs import metrics_registry

    detected = _detected(story["drifted"])
    assert Path(detected["html"]["column_tests"]).is_file()
    # the per-column rule under false-discovery control fires too, and names its columns
    assert "columns" in detected["rules_fired"] and "support_tickets_count" in detected["fdr_drifted"]
    summary = json.loads(Path(detected["report"]).read_text())
    # CBPE on the champion's probabilities, the realized figure beside it
    estimate = summary["estimated_performance"]
    assert estimate["rows"] == summary["rows"]["compared"] and estimate["calibration_rows"] > 0
    assert estimate["realized_roc_auc"] == pytest.approx(summary["performance"]["now"]["roc_auc"])
    assert "mlops_drift_estimated_roc_auc{" in generate_latest(metrics_registry(summary)).decode()


def test_a_second_run_within_the_cooldown_does_not_retrain(story: dict[str, Any]) -> None:
    detected = _detected(story["cooldown"])
    assert detected["decision"] == "none"
    assert "within drift.cooldown_hours 24: no retrain now" in detected["reasons"][-1]
    assert _steps(story["cooldown"])["uc3_02_trigger_retrain_kubeflow"]["status"] == "skipped"
    assert [v.version for v in _registry(story["ws"]).search_model_versions(f"name='{MODEL}'")] == [2, 1]


def test_a_window_under_min_rows_is_insufficient_data(story: dict[str, Any]) -> None:
    detected = _detected(story["small"])
    assert detected["decision"] == "insufficient_data"
    assert detected["reasons"][0].endswith("< drift.min_rows 100000: nothing judged")


def test_the_newest_data_version_can_be_the_current_side_with_its_own_labels(story: dict[str, Any]) -> None:
    detected = _detected(story["extract"])
    summary = json.loads(Path(detected["report"]).read_text())
    assert summary["current"]["mode"] == "latest_extract" and summary["current"]["source"].endswith(
        "@data-v2"
    )
    assert summary["rows"]["current"] == 4000 and summary["reference"]["data_tag"] == "data-v1"
    assert (
        summary["performance"]["labelled"] == 4000
    )  # the extract's own churn labels, scored by the champion
    assert summary["prediction_drift"]["column"] == "churn_probability" and detected["drifted"]
    assert detected["decision"] == "none"  # drifted or not, v2 was retrained within the cool-down


def test_the_drift_metrics_are_valid_for_a_real_pushgateway(story: dict[str, Any], pushgateway: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from common.drift.outputs import publish

    textfile = story["ws"] / "metrics" / "drift.prom"
    put = urllib.request.Request(f"{pushgateway}/metrics/job/textfile", textfile.read_bytes(), method="PUT")
    assert urllib.request.urlopen(put, timeout=10).status == 200  # the Pushgateway parses what we wrote
    summary = json.loads(Path(_detected(story["drifted"])["report"]).read_text())
    where = publish(summary, textfile.with_name("unused.prom"), pushgateway)
    assert (
        where == f"{pushgateway}/metrics/job/churn_drift" and not textfile.with_name("unused.prom").exists()
    )
    text = urllib.request.urlopen(f"{pushgateway}/metrics", timeout=10).read().decode()
    shares = {
        s.labels["job"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "mlops_drift_share"
        for s in f.samples
    }
    assert shares["churn_drift"] == pytest.approx(summary["share"])
    latest = json.loads((story["ws"] / "reports" / "drift" / "latest.json").read_text())
    assert shares["textfile"] == pytest.approx(latest["share"])  # the last check's, as the textfile has it
