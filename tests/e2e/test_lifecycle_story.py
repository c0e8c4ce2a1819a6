"""The whole lifecycle in one fresh workspace, as the commands a user types (README, "A day in the life"): UC1
trains and serves v1; a drifted batch arrives and its customers are scored; UC3 detects the drift and retrains v2
as challenger; UC2 canaries v2 and promotes it; UC5 writes v2's report and card; UC6 deploys v2 through git; UC4
traces the champion back to the drifted batch's data version and the warehouse table. The fixture plays the story
once; each test checks one hop, and the reports page of the same workspace is opened in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import ROOT, free_port, require_binary, run_script, serving_port, summary_of

MODEL = "churn-predictor"
SERVE = "uc1_churn_prediction/uc1_06_model_serving_kserve.py"
FAST = {
    "MLOPS__SERVING__INFERENCE_LOG__FLUSH_S": "1",
    "MLOPS__AB_TESTING__INTERVAL_S": "1",
    "MLOPS__AB_TESTING__ITERATIONS": "4",
    "MLOPS__AB_TESTING__MIN_REQUESTS": "20",
    "MLOPS__AB_TESTING__CANARY_PERCENT": "30",
    "MLOPS__AB_TESTING__REPLAY_RATE": "100",
}
DRIFTED = ["--rows", "2000", "--drift", "--append", "--id-offset", "100000", "--seed", "7"]


def _user(ws: Path, script: str, *args: str) -> dict[str, Any]:
    """A command as the user types it; it must succeed; its JSON summary line."""
    proc = run_script(script, *args, workspace=ws, env=FAST)
    assert proc.returncode == 0, f"{script} {args}: {proc.stderr[-3000:]}"
    return summary_of(proc)


def _state(ws: Path) -> dict[str, Any]:
    return json.loads((ws / "state" / "steps.json").read_text())


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("story") / "ws"
    endpoint = f"http://127.0.0.1:{serving_port(ws)}/v1/models/{MODEL}:predict"
    out: dict[str, Any] = {"ws": ws, "uc1": _user(ws, "uc1_churn_prediction/run_pipeline.py")}
    batch = ws.parent / "drifted.parquet"
    out["arrived"] = _user(ws, "common/data/sample_data.py", *DRIFTED, "--out", str(batch))
    replay = ["--data", str(batch), "--endpoint", endpoint, "--rate", "250", "--duration", "8"]
    out["sent"] = _user(ws, "-m", "common.experiment.replay", *replay)
    out["replayed"] = [
        json.loads(line) for line in (ws / "replay" / "responses.jsonl").read_text().splitlines()
    ]
    _user(ws, SERVE, "--stop")  # the last logged rows are written at shutdown
    out["labels"] = _user(ws, "common/data/sample_data.py", "--feedback")
    out["uc3"] = _user(ws, "uc3_drift_retraining/run_pipeline.py")
    out["state_uc3"] = _state(ws)
    _user(ws, SERVE)  # the champion serves again, for the canary beside it
    out["uc2"] = _user(ws, "uc2_ab_testing/run_pipeline.py")
    out["uc5"] = _user(ws, "uc5_fairness_docs/run_pipeline.py")
    out["uc6"] = _user(ws, "uc6_gitops_deployment/run_pipeline.py")
    out["uc4"] = _user(ws, "uc4_data_lineage/uc4_02_query_lineage_marquez.py", "--model", f"{MODEL}@champion")
    out["report"] = _user(ws, "-m", "common.report")
    out["state"] = _state(ws)
    return out


def _steps(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in summary["steps"]}


def test_1_uc1_trains_and_serves_v1(story: dict[str, Any]) -> None:
    assert all(s["status"] == "ok" for s in story["uc1"]["steps"]), story["uc1"]
    assert story["state_uc3"]["uc1_06_model_serving_kserve"]["outputs"]["version"] == "1"


def test_2_the_drifted_batch_arrives_and_is_scored_by_v1(story: dict[str, Any]) -> None:
    replayed = story["replayed"]
    assert story["arrived"]["rows"] == 2000 and len(replayed) == 2000
    sent = story["sent"]
    assert (sent["status"], sent["sent"], sent["answers"], sent["errors"]) == ("ok", 2000, {"200": 2000}, [])
    assert sent["versions"] == ["1"]
    assert {r["version"] for r in replayed} == {"1"} and {r["status"] for r in replayed} == {200}
    assert min(r["id"] for r in replayed) > 100000 and story["labels"]["rows"] >= 2000


def test_3_uc3_detects_drift_and_retrains_v2_as_challenger(story: dict[str, Any]) -> None:
    state = story["state_uc3"]
    assert state["uc3_01_drift_detection_evidently"]["outputs"]["decision"] == "retrain"
    retrained = state["uc3_02_trigger_retrain_kubeflow"]["outputs"]
    assert (retrained["version"], retrained["aliases"], retrained["data_tag"]) == (
        "2",
        ["challenger"],
        "data-v2",
    )


def test_4_uc2_canaries_v2_and_promotes_it(story: dict[str, Any]) -> None:
    decided = story["state"]["uc2_03_monitor_experiment"]["outputs"]
    assert (decided["decision"], decided["stable"], decided["candidate"]) == ("promote", "1", "2"), decided
    assert _steps(story["uc2"])["uc2_03_monitor_experiment"]["status"] == "ok"


def test_4_the_batch_scores_follow_the_promoted_champion(story: dict[str, Any]) -> None:
    """UC1 scored data-v1 with v1; after UC2's promotion its step 04 scores the newest data with v2."""
    assert _steps(story["uc2"])["uc2_04_refresh_scores_mlflow"]["status"] == "ok"
    scored = story["state"]["uc1_07_batch_scoring_mlflow"]["outputs"]
    assert (scored["model_version"], scored["data_version"]) == ("2", "data-v2")
    import sqlite3

    with sqlite3.connect(story["ws"] / "warehouse" / "warehouse.db") as db:
        by = dict(db.execute("SELECT model_version, COUNT(*) FROM churn_predictions GROUP BY model_version"))
    assert by.get("2", 0) > 0  # in the warehouse too, beside v1's rows of data-v1


def test_5_uc5_writes_v2s_fairness_report_and_card(story: dict[str, Any]) -> None:
    state = story["state"]
    card = state["uc5_02_generate_model_card"]["outputs"]
    assert state["uc5_01_fairness_analysis_fairlearn"]["outputs"]["version"] == card["version"] == "2"
    assert Path(card["html"]).is_file() and "data-v2" in Path(card["markdown"]).read_text()


def test_6_uc6_deploys_v2_through_git(story: dict[str, Any]) -> None:
    synced = story["state"]["uc6_02_sync_argocd"]["outputs"]
    assert (synced["version"], synced["sync"], synced["health"]) == ("2", "Synced", "Healthy")
    log = subprocess.run(
        ["git", "--git-dir", synced["url"].removeprefix("file://"), "log", "-1", "--format=%s%n%b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "promote v2 to staging" in log and "Data-Version: data-v2" in log


def test_7_uc4_traces_the_champion_to_the_drifted_batch_and_the_table(story: dict[str, Any]) -> None:
    ws = story["ws"]
    (answer,) = story["state"]["uc4_02_query_lineage_marquez"]["outputs"]["answers"]
    assert answer["model"]["version"] == "2" and answer["consistent"] is True
    assert [d["version"].split(" ")[0] for d in answer["data_versions"]] == ["data-v2"]
    assert [t["id"] for t in answer["tables"]] == [
        f"dataset:sqlite://{ws / 'warehouse' / 'warehouse.db'}:customers"
    ]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [v for k, v in attrs if k in ("href", "src") and v]


def test_the_reports_page_links_every_report_and_shows_the_history(story: dict[str, Any]) -> None:
    page = Path(story["report"]["report"])
    text = page.read_text()
    parser = _Links()
    parser.feed(text)
    targets = [t for t in parser.targets if not t.startswith("#")]
    assert all(not urlsplit(t).scheme for t in targets), targets  # relative links only: offline, movable
    missing = [t for t in targets if not (page.parent / unquote(t)).is_file()]
    assert not missing and len(targets) >= 12, missing
    for kind in (
        "data_docs/index.html",
        "drift/drift_",
        "ab/",
        "fairness/",
        "model_card/",
        "lineage/",
        ".png",
    ):
        assert any(kind in t for t in targets), kind
    assert "promote v2 to staging" in text and "nothing yet" not in text
    for run in ("uc1_churn_prediction", "uc3_drift_retraining", "uc2_ab_testing", "uc6_gitops_deployment"):
        assert f"<td>{run}</td>" in text


def test_the_reports_page_renders_in_headless_chromium(story: dict[str, Any], tmp_path: Path) -> None:
    import matplotlib.image

    browser = require_binary("chromium", "chromium")
    page, shot = Path(story["report"]["report"]), tmp_path / "index.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "Run history" in dom and "GitOps history" in dom
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        check=True,
        timeout=120,
    )
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 1600 and pixels.std() > 0.05  # text, tables and plots, not a blank page


def _daemon(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def _ready(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} not ready within {timeout_s}s")


@pytest.fixture(scope="module")
def monitoring(story: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Debian's Prometheus with deploy/monitoring/prometheus.yml, its targets on loopback ports: the story's
    model server, a Pushgateway, and node_exporter's textfile collector reading the workspace's metrics/."""
    import yaml

    tmp = tmp_path_factory.mktemp("monitoring")
    binaries = {
        name: require_binary(name, package)
        for name, package in (
            ("prometheus", "prometheus"),
            ("prometheus-pushgateway", "prometheus-pushgateway"),
            ("prometheus-node-exporter", "prometheus-node-exporter"),
        )
    }
    ports = {job: free_port() for job in ("prometheus", "pushgateway", "node-textfile")}
    ports["model-server"] = serving_port(story["ws"])
    config = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    procs = [
        _daemon(
            [binaries["prometheus-pushgateway"], f"--web.listen-address=127.0.0.1:{ports['pushgateway']}"],
            tmp / "pushgateway.log",
        ),
        _daemon(
            [
                binaries["prometheus-node-exporter"],
                f"--web.listen-address=127.0.0.1:{ports['node-textfile']}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={story['ws'] / 'metrics'}",
            ],
            tmp / "node.log",
        ),
        _daemon(
            [
                binaries["prometheus"],
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
            tmp / "prometheus.log",
        ),
    ]
    urls = {job: f"http://127.0.0.1:{port}" for job, port in ports.items()}
    try:
        for job in ("pushgateway", "node-textfile", "prometheus"):
            _ready(f"{urls[job]}/-/ready" if job != "node-textfile" else f"{urls[job]}/metrics")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # a query Prometheus refuses: 400 with its error
        return json.loads(exc.read())


def test_the_pipelines_push_their_figures_to_a_real_pushgateway(
    story: dict[str, Any], monitoring: dict[str, str]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from common.config import load_config
    from common.pipeline_metrics import publish
    from common.workspace import Workspace

    cfg = load_config(
        None, [f"monitoring.pushgateway_url={monitoring['pushgateway']}", f"workspace={story['ws']}"]
    )
    where = publish(cfg, Workspace(story["ws"]), "uc1_churn_prediction", list(_steps(story["uc1"])))
    assert where == f"{monitoring['pushgateway']}/metrics/job/mlops_pipeline/pipeline/uc1_churn_prediction"
    text = urllib.request.urlopen(f"{monitoring['pushgateway']}/metrics", timeout=10).read().decode()
    samples = {
        (s.name, s.labels.get("pipeline"), s.labels.get("step")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("mlops_pipeline_last_success", "uc1_churn_prediction", None)] == 1
    # the newest extract: UC3's retrain read the first 2,000 customers and the 2,000 drifted ones
    rows = samples[("mlops_pipeline_step_rows", "uc1_churn_prediction", "uc1_01_data_ingestion_postgres")]
    assert rows == 4000
    assert samples[("mlops_model_champion_version", "champion", None)] == 2  # v2, promoted by UC2: one group


def test_every_dashboard_expression_runs_on_a_real_prometheus(
    story: dict[str, Any], monitoring: dict[str, str]
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dashboard", ROOT / "deploy" / "monitoring" / "dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    board = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(board)
    endpoint = f"http://127.0.0.1:{serving_port(story['ws'])}/v1/models/{MODEL}:predict"
    prometheus = monitoring["prometheus"]
    rated = f'rate(mlops_ab_requests_total{{model_name="{MODEL}"}}[1m])'
    deadline, customer = time.monotonic() + 60, 0
    # traffic until Prometheus holds the two scrapes of the counters a rate() needs: a busy runner scrapes late
    while not _query(prometheus, rated)["data"]["result"] and time.monotonic() < deadline:
        customer += 1
        body = json.dumps({"instances": [{"customer_id": customer % 500 + 1}]}).encode()
        request = urllib.request.Request(endpoint, body, {"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=10).status == 200
        time.sleep(0.2)
    targets = _query(prometheus, "up")["data"]["result"]
    assert {(t["metric"]["job"], t["value"][1]) for t in targets} >= {
        ("model-server", "1"),
        ("node-textfile", "1"),
    }
    results = {}
    for expr in board.expressions(board.dashboard()):
        answer = _query(prometheus, expr.replace("$model", MODEL).replace("$__rate_interval", "1m"))
        assert answer["status"] == "success", (expr, answer)  # parses and evaluates
        results[expr] = answer["data"]["result"]
    empty = [expr for expr, found in results.items() if not found]
    assert not empty, empty  # every panel has data: the server's, the drift check's and the pipelines' series
    assert _query(prometheus, "sum(rate(mlops_ab_requests_total[1m]) +")["status"] == "error"  # a real parser
