"""UC2 step 01 as a user runs it, on two registered versions: skipped while there is no challenger; then the
canary split in the local model server: the share over 2,000 requests, sticky routing, a pinning header, every
answer naming its version, and metrics labelled by version."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Prober, metric_families, run_script, serving_port, summary_of

MODEL = "churn-predictor"
CANARY = "uc2_ab_testing/uc2_01_deploy_canary_kserve.py"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """UC1 serves v1 (champion and challenger: nothing to test); then v2, the same artifact registered again,
    becomes the challenger, and uc2_01 puts it beside v1 at 10 %."""
    from common.model.tracking import client_for

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
    with Prober(f"http://127.0.0.1:{serving_port(ws)}") as probe:  # users call on while the canary starts
        deployed = run_script(CANARY, workspace=ws)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    probe.assert_no_outage()
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
    _, base = split
    families = metric_families(base)
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


@pytest.fixture
def prometheus(split: tuple[Path, str], tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus on a loopback port, scraping the split server every second."""
    import subprocess

    from tests.conftest import free_port, require_binary

    binary = require_binary("prometheus", "prometheus")
    _, base = split
    config = tmp_path / "prometheus.yml"
    target = base.removeprefix("http://")
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: model-server, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200, 30)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait(check: Any, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not true within {timeout_s}s")


def test_promql_reads_the_same_counters_and_verdict_as_the_servers_own_metrics(
    split: tuple[Path, str], prometheus: str
) -> None:
    from common.experiment.judgement import evaluate
    from common.experiment.readers import read_embedded, read_prometheus
    from common.settings import ABTestingCfg

    _, base = split
    for customer in range(1, 301):
        _predict(base, customer)
    ab, versions = ABTestingCfg(), ["1", "2"]
    embedded = read_embedded(f"{base}/metrics", MODEL, versions)
    _wait(lambda: read_prometheus(prometheus, ab.queries, MODEL, versions) == embedded, 30)  # a scrape later
    promql = read_prometheus(prometheus, ab.queries, MODEL, versions)
    assert promql["2"].requests > 0 and promql["1"].latency[-1][1] == promql["1"].requests
    verdict = [r.to_dict() for r in evaluate(promql["1"], promql["2"], ab.objectives, 20)]
    assert verdict == [r.to_dict() for r in evaluate(embedded["1"], embedded["2"], ab.objectives, 20)]


FAST = {
    "MLOPS__AB_TESTING__INTERVAL_S": "1",
    "MLOPS__AB_TESTING__ITERATIONS": "4",
    "MLOPS__AB_TESTING__MIN_REQUESTS": "20",
    "MLOPS__AB_TESTING__CANARY_PERCENT": "30",
    "MLOPS__AB_TESTING__REPLAY_RATE": "100",
}
PIPELINE = "uc2_ab_testing/run_pipeline.py"


def _experiment(ws: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    recorded = json.loads((ws / "state" / "steps.json").read_text())["uc2_03_monitor_experiment"]
    folder = Path(recorded["outputs"]["report"]).parent
    responses = [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines()]
    return recorded["outputs"], responses


def _registry(ws: Path) -> Any:
    from common.model.tracking import client_for

    return client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")


def test_a_sound_candidate_is_promoted_and_served_alone_even_when_a_kill_interrupts_it(
    split: tuple[Path, str],
) -> None:
    """A kill after the aliases moved, before the server switched: the rerun finishes the promote (nothing
    done twice, no second experiment); users never meet a refused connection."""
    ws, base = split
    with Prober(base) as probe:
        killed = run_script(PIPELINE, workspace=ws, env={**FAST, "MLOPS_KILL_AT": "uc2.promote.registry"})
        assert killed.returncode == -9, killed.stderr[-3000:]
        assert _registry(ws).get_registered_model(MODEL).aliases["champion"] == 2
        with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
            assert json.loads(resp.read())["canary"]["version"] == "2"  # the act is half done
        proc = run_script(PIPELINE, workspace=ws, env=FAST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe.assert_no_outage()
    assert "finished experiment" in proc.stderr and "promote" in proc.stderr
    assert not list((ws / "state" / "intents").glob("*.json"))
    experiments = [p for p in (ws / "reports" / "ab").iterdir() if p.is_dir()]
    assert len(experiments) == 1, experiments  # the rerun ran none of its own
    outputs = json.loads((experiments[0] / "report.json").read_text())
    responses = [json.loads(line) for line in (experiments[0] / "responses.jsonl").read_text().splitlines()]
    assert outputs["acted"] is True and outputs["decision"] == "promote" and outputs["reasons"] == [], outputs
    assert {r["objective"] for r in outputs["objectives"]} >= {"error_rate", "latency_p95_ms", "roc_auc_drop"}
    aliases = _registry(ws).get_registered_model(MODEL).aliases
    assert (aliases["champion"], aliases["previous"]) == (2, 1)
    with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
        about = json.loads(resp.read())
    assert about["version"] == "2" and "canary" not in about
    assert _predict(base, 5)[0] == "2"
    assert {r["version"] for r in responses} == {"1", "2"} and all(r["status"] == 200 for r in responses)
    page = (experiments[0] / "report.html").read_text()
    assert "promote" in page and page.count("<svg") >= 5 and "<script" not in page


def test_a_failing_candidate_is_rolled_back_and_stable_never_failed(split: tuple[Path, str]) -> None:
    """Version 3 calls every customer a churner (its threshold is 0): its positive-prediction rate leaves the
    band at once, and the failure limit ends the experiment early."""
    ws, base = split
    client = _registry(ws)
    v2 = client.get_model_version(MODEL, "2")
    v3 = client.create_model_version(
        MODEL, v2.source, run_id=v2.run_id, tags={**v2.tags, "decision_threshold": "0"}
    )
    client.set_registered_model_alias(MODEL, "challenger", v3.version)
    with Prober(base) as probe:  # through the canary start and the rollback's switch
        proc = run_script(PIPELINE, workspace=ws, env=FAST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe.assert_no_outage()
    outputs, responses = _experiment(ws)
    assert outputs["decision"] == "rollback" and (outputs["stable"], outputs["candidate"]) == ("2", "3")
    assert any(r.startswith("candidate positive_rate_gap = ") for r in outputs["reasons"])
    assert client.get_registered_model(MODEL).aliases["champion"] == 2
    assert json.loads(client.get_model_version(MODEL, "3").tags["rejected"]) == outputs["reasons"]
    stable = [r for r in responses if r["version"] == "2"]
    assert stable and all(r["status"] == 200 for r in stable)  # the candidate's failure cost stable nothing
    assert _predict(base, 5)[0] == "2"
    iterations = json.loads(Path(outputs["record"]).read_text())["iterations"]
    assert len(iterations) < 4 and [i["status"] for i in iterations][-2:] == ["fail", "fail"]  # ended early
    again = run_script("uc2_ab_testing/uc2_03_monitor_experiment.py", workspace=ws, env=FAST)
    assert again.returncode == 0 and summary_of(again)["outputs"]["decision"] == "rollback"
    assert summary_of(again)["duration_s"] < 3  # decided before: not observed, nor acted upon, again
    assert client.get_registered_model(MODEL).aliases["champion"] == 2


def test_a_rejected_candidate_is_not_tested_again_unless_asked(split: tuple[Path, str]) -> None:
    """Version 3, rejected above, is still the challenger: the next run skips it and says why; with
    --retry-rejected it is canaried again."""
    ws, _ = split
    skipped = run_script(CANARY, workspace=ws, env=FAST)
    assert skipped.returncode == 0 and summary_of(skipped)["status"] == "skipped", skipped.stderr[-2000:]
    reason = summary_of(skipped)["outputs"]["reason"]
    assert "version 3, was rejected by an experiment (candidate positive_rate_gap" in reason, reason
    assert "--retry-rejected" in reason
    retried = run_script(CANARY, "--retry-rejected", workspace=ws, env=FAST)
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert summary_of(retried)["outputs"]["candidate"] == "3"
