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
LOG_FLUSH = {"MLOPS__SERVING__INFERENCE_LOG__FLUSH_S": "1"}  # shadow scores reach the log within a look
SPLIT = {"MLOPS__AB_TESTING__MODE": "split"}


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """UC1 serves v1 (champion and challenger: nothing to test); then v2, the same artifact registered again,
    becomes the challenger, and uc2_01 puts it beside v1 at 10 %."""
    from common.model.tracking import client_for

    ws = tmp_path_factory.mktemp("split") / "ws"
    proc = run_script("uc1_churn_prediction/run_pipeline.py", workspace=ws, env=LOG_FLUSH)
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone = run_script(CANARY, workspace=ws)
    assert alone.returncode == 0 and summary_of(alone)["status"] == "skipped"
    assert summary_of(alone)["outputs"]["reason"] == "the challenger is version 1, the champion itself"
    client = client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")
    v1 = client.get_model_version(MODEL, "1")
    v2 = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL, "challenger", v2.version)
    with Prober(f"http://127.0.0.1:{serving_port(ws)}") as probe:  # users call on while the canary starts
        deployed = run_script(CANARY, workspace=ws, env=SPLIT)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    probe.assert_no_outage()
    outputs = summary_of(deployed)["outputs"]
    assert (outputs["stable"], outputs["candidate"], outputs["changed"]) == ("1", "2", True)
    again = run_script(CANARY, workspace=ws, env=SPLIT)
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
        "mode": "split",
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
    found = folder / "responses.jsonl"  # absent when the decision came before the replay wrote an answer
    responses = [json.loads(line) for line in found.read_text().splitlines()] if found.exists() else []
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
    # shadow mode (the default): version 1 answered everyone, version 2 scored each of them unseen
    assert {r["version"] for r in responses} == {"1"} and all(r["status"] == 200 for r in responses)
    quality = next(r for r in outputs["objectives"] if r["objective"] == "roc_auc_drop")
    assert quality["status"] == "pass" and "fair labelled customers" in quality["detail"], quality
    assert outputs["mode"] == "shadow" and outputs["plan"]["mode"] == "shadow"
    page = (experiments[0] / "report.html").read_text()
    assert "promote" in page and page.count("<svg") >= 5 and "<script" not in page


def test_a_failing_candidate_is_rolled_back_and_stable_never_failed(split: tuple[Path, str]) -> None:
    """Version 3 calls every customer a churner (its threshold is 0): its positive-prediction rate leaves the
    band at once, shown by an always-valid test, which ends the experiment at its first look."""
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
    assert all(r["status"] == 200 for r in responses)  # the candidate's failure cost stable nothing
    errors = {(r["version"], r["objective"]): r["value"] for r in outputs["objectives"]}
    assert errors[("stable", "error_rate")] == 0.0 and errors[("candidate", "error_rate")] == 0.0
    assert _predict(base, 5)[0] == "2"
    iterations = json.loads(Path(outputs["record"]).read_text())["iterations"]
    assert len(iterations) == 1 and iterations[0]["status"] == "fail"  # shown past the band at the first look
    record = Path(outputs["record"])
    decided = record.stat().st_mtime_ns, record.read_text()
    again = run_script("uc2_ab_testing/uc2_03_monitor_experiment.py", workspace=ws, env=FAST)
    assert again.returncode == 0 and summary_of(again)["outputs"]["decision"] == "rollback"
    # decided before: not observed again (a new look rewrites the record), nor acted upon (acting marks it)
    assert (record.stat().st_mtime_ns, record.read_text()) == decided
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


def _memoriser(ws: Path) -> tuple[str, float, float, int]:
    """A decision tree of unlimited depth fitted on version 2's training rows (its data less its logged
    holdout), logged with that holdout as any candidate is, and registered as the challenger. Returns (its
    version, its ROC AUC on every customer of the data, on the holdout only, the rows it trained on)."""
    import tempfile

    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from common.config import load_config
    from common.features.engineering import build_features, feature_types
    from common.model.registry import HOLDOUT_ARTIFACT, log_candidate
    from common.model.training import make_model

    cfg, client = load_config(environ={}), _registry(ws)
    ds, uri = cfg.dataset, f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    v2 = client.get_model_version(MODEL, "2")
    state = json.loads((ws / "state" / "steps.json").read_text())
    data = pd.read_parquet(state["uc1_03_data_validation_ge"]["outputs"]["path"])
    with tempfile.TemporaryDirectory() as tmp:
        held = pd.read_parquet(client.download_artifacts(v2.run_id, HOLDOUT_ARTIFACT, tmp))
        types = feature_types(cfg.features, ds)
        features = build_features(data, cfg.features, ds)
        train = ~data[ds.id_column].isin(held[ds.id_column])
        tree = make_model("sklearn.tree.DecisionTreeClassifier", {"random_state": 0}, types)
        tree.fit(features.loc[train, list(types)], data.loc[train, ds.target])
        holdout = held.assign(
            churn_probability=tree.predict_proba(build_features(held, cfg.features, ds)[list(types)])[:, 1]
        )
        info = {
            "estimator": "sklearn.tree.DecisionTreeClassifier",
            "params": {"max_depth": None},
            "threshold": 0.5,
            "test": {"confusion_matrix": [[0, 0], [0, 0]]},
            "cv": {},
        }
        parent = client.get_run(v2.run_id).data.tags["mlflow.parentRunId"]
        run_id = log_candidate(
            uri, parent, "memoriser", tree, info, Path(tmp), features[list(types)].head(3), holdout
        )
    source = client.get_run(run_id).data.tags["model_uri"]
    tags = {**v2.tags, "decision_threshold": "0.5", "candidate": "memoriser"}
    tags = {k: v for k, v in tags.items() if k not in ("rejected", "ab_testing")}
    version = client.create_model_version(MODEL, source, run_id=run_id, tags=tags).version
    client.set_registered_model_alias(MODEL, "challenger", version)
    everyone = roc_auc_score(data[ds.target], tree.predict_proba(features[list(types)])[:, 1])
    return (
        str(version),
        float(everyone),
        float(roc_auc_score(holdout[ds.target], holdout["churn_probability"])),
        int(train.sum()),
    )


def test_a_candidate_that_memorised_its_training_rows_is_not_promoted(split: tuple[Path, str]) -> None:
    """In-sample it beats the champion (the old replay judged on those rows); on the fair comparison set
    (customers neither version trained on) it is shown worse, and rolled back."""
    ws, base = split
    version, everyone, fair, trained = _memoriser(ws)
    assert everyone > 0.9 > fair + 0.1, (everyone, fair)  # the trap: perfect on what it saw
    proc = run_script(PIPELINE, workspace=ws, env=FAST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs, responses = _experiment(ws)
    assert (outputs["candidate"], outputs["decision"]) == (version, "rollback"), outputs
    quality = next(r for r in outputs["objectives"] if r["objective"] == "roc_auc_drop")
    assert quality["status"] == "fail" and "shown more than 0.01 worse" in quality["detail"], quality
    record = json.loads(Path(outputs["record"]).read_text())
    # both versions trained on the same rows: exactly those are left out, the holdout is the fair set
    assert record["fair"]["excluded"] == trained and any(
        "training rows" in n for n in record["fair"]["notes"]
    )
    excluded = set(pd_ids(record["fair"]["path"]))
    assert responses and not {r["id"] for r in responses} & excluded  # only fair customers were replayed
    assert _registry(ws).get_registered_model(MODEL).aliases["champion"] == 2
    assert _predict(base, 5)[0] == "2"


def pd_ids(path: str) -> list[object]:
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame[frame.columns[0]].tolist()
