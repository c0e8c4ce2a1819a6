"""UC2 step 01 as a user runs it, on two registered versions: skipped while there is no challenger; then the
canary split in the local model server: the share over 2,000 requests, sticky routing, a pinning header, every
answer naming its version, and metrics labelled by version."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_script, serving_port, summary_of

MODEL = "churn-predictor"
CANARY = "uc2_ab_testing/uc2_01_deploy_canary_kserve.py"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """UC1 serves v1 (champion and challenger: nothing to test); then v2, the same artifact registered again,
    becomes the challenger, and uc2_01 puts it beside v1 at 10 %."""
    from common.model.registry import client_for

    ws = tmp_path_factory.mktemp("split") / "ws"
    proc = run_script("uc1_churn_prediction/run_pipeline.py", workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone = run_script(CANARY, workspace=ws)
    assert alone.returncode == 0 and summary_of(alone)["status"] == "skipped"
    assert summary_of(alone)["outputs"]["reason"] == "the challenger is version 1, the champion itself"
    client = client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")
    v1 = client.get_model_version(MODEL, "1")
    v2 = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL, "challenger", v2.version)
    deployed = run_script(CANARY, workspace=ws)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    outputs = summary_of(deployed)["outputs"]
    assert (outputs["stable"], outputs["candidate"], outputs["changed"]) == ("1", "2", True)
    again = run_script(CANARY, workspace=ws)
    assert summary_of(again)["outputs"]["changed"] is False  # the same split is served already
    return ws, f"http://127.0.0.1:{serving_port(ws)}"


def _predict(base: str, customer: int, headers: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"instances": [{"customer_id": customer}]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/models/{MODEL}:predict", body, {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.headers["x-model-version"], json.loads(resp.read())


def test_the_candidate_gets_its_share_and_each_answer_names_its_version(split: tuple[Path, str]) -> None:
    _, base = split
    versions = []
    for customer in range(1, 2001):
        header, answer = _predict(base, customer)
        assert header == answer["model_version"] and answer["predictions"][0]["customer_id"] == customer
        versions.append(header)
    assert set(versions) == {"1", "2"}
    assert abs(versions.count("2") / len(versions) * 100 - 10) <= 3  # within 3 points of canary_percent


def test_a_customer_always_meets_the_same_version_unless_a_header_pins_one(split: tuple[Path, str]) -> None:
    _, base = split
    first = {c: _predict(base, c)[0] for c in range(1, 201)}
    assert all(_predict(base, c)[0] == v for c, v in first.items() for _ in range(2))
    stable_customer = next(c for c, v in first.items() if v == "1")
    assert _predict(base, stable_customer, {"x-model-version": "2"})[0] == "2"


def test_metrics_and_metadata_are_by_version(split: tuple[Path, str]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, base = split
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    requests = {
        s.labels["version"]: s.value
        for s in families["mlops_ab_requests"].samples
        if s.name.endswith("_total")
    }
    assert set(requests) == {"1", "2"} and sum(requests.values()) >= 2000
    latency = [s for s in families["mlops_ab_request_seconds"].samples if s.name.endswith("_count")]
    assert {s.labels["version"]: s.value for s in latency} == requests
    assert "mlops_ab_churn_probability" in families and "mlops_ab_positive_predictions" in families
    with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
        about = json.loads(resp.read())
    assert about["version"] == "1" and about["canary"] == {
        "version": "2",
        "alias": "challenger",
        "percent": 10.0,
        "routing": "sticky",
    }


def test_uc1_serving_leaves_a_canary_beside_the_same_champion_running(split: tuple[Path, str]) -> None:
    ws, base = split
    proc = run_script("uc1_churn_prediction/uc1_06_model_serving_kserve.py", workspace=ws)
    assert proc.returncode == 0 and summary_of(proc)["outputs"]["changed"] is False, proc.stderr[-2000:]
    assert "(with version 2 as its canary): nothing to do" in proc.stderr
    assert _predict(base, 1, {"x-model-version": "2"})[0] == "2"
