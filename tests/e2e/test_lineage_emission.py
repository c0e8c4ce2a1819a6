"""OpenLineage from the step runner, as a user runs the scripts: run_all in a fresh workspace leaves START and
COMPLETE for every step, under its pipeline's run and run_all's; a failing step leaves FAIL with its message; the
http backend delivers to a receiver, and with the receiver down the steps still succeed and the events are spooled."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.usecases import find
from tests.conftest import run_script, serving_port, summary_of
from tests.lineage_schema import event_errors

STEPS, UC2_STEPS, UC3_STEPS, UC5_STEPS, UC6_STEPS = (
    list(find(n).steps) for n in ("uc1", "uc2", "uc3", "uc5", "uc6")
)

STEP1 = "uc1_churn_prediction/uc1_01_data_ingestion_postgres.py"
DELIVER_STEP = "uc4_01_emit_lineage_openlineage"
DELIVER = f"uc4_data_lineage/{DELIVER_STEP}.py"
QUERY_STEP = "uc4_02_query_lineage_marquez"
QUERY = f"uc4_data_lineage/{QUERY_STEP}.py"
BATCH_STEP = "uc1_07_batch_scoring_mlflow"


def _events(ws: Path, name: str = "events.jsonl") -> list[dict[str, Any]]:
    path = ws / "lineage" / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def lineage(run_all_ws: dict[str, Any]) -> tuple[Path, list[dict[str, Any]]]:
    """run_all's workspace (tests/e2e/conftest.py) and the events it left."""
    # UC2 runs, and says why it had nothing to do: the gate made v1 both champion and challenger
    skipped = [line for line in run_all_ws["stderr"].splitlines() if line.startswith("  uc2   uc2_")]
    assert len(skipped) == 4 and all("skipped" in line for line in skipped)
    assert skipped[0].endswith("the challenger is version 1, the champion itself")
    return run_all_ws["ws"], run_all_ws["events"]


def test_every_step_starts_then_completes_in_order_under_its_pipeline(lineage: tuple) -> None:
    _, events = lineage
    steps = [(e["job"]["name"], e["eventType"]) for e in events if e["job"]["name"] in STEPS]
    assert steps == [(s, state) for s in STEPS for state in ("START", "COMPLETE")]
    runs = {(e["job"]["name"], e["eventType"]): e["run"] for e in events}
    pipeline, root = runs[("uc1_churn_prediction", "START")], runs[("run_all", "START")]
    assert runs[("uc1_churn_prediction", "COMPLETE")]["runId"] == pipeline["runId"]
    for step in STEPS:
        start, done = runs[(step, "START")], runs[(step, "COMPLETE")]
        assert start["runId"] == done["runId"] != pipeline["runId"]
        parent = done["facets"]["parent"]
        assert parent["run"]["runId"] == pipeline["runId"] and parent["job"]["name"] == "uc1_churn_prediction"
        assert parent["root"]["run"]["runId"] == root["runId"] and parent["root"]["job"]["name"] == "run_all"
    assert "parent" not in root["facets"]
    assert all(e["job"]["namespace"] == "churn-mlops" for e in events)
    assert all("sourceCodeLocation" not in e["job"].get("facets", {}) for e in events)
    assert {e["job"]["facets"]["jobType"]["jobType"] for e in events} == {"STEP", "PIPELINE"}


def _datasets(events: list[dict[str, Any]], step: str, side: str) -> list[dict[str, Any]]:
    (done,) = [e for e in events if e["job"]["name"] == step and e["eventType"] == "COMPLETE"]
    return done[side]


def _ids(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_inputs_and_outputs_are_named_from_the_warehouse_to_the_endpoint(lineage: tuple) -> None:
    ws, events = lineage
    (table,) = _datasets(events, STEPS[0], "inputs")
    assert (
        table["namespace"] == f"sqlite://{ws / 'warehouse' / 'warehouse.db'}" and table["name"] == "customers"
    )
    assert table["facets"]["datasetType"]["datasetType"] == "TABLE"
    (extract,) = _datasets(events, STEPS[0], "outputs")
    assert extract["namespace"] == "file" and extract["name"].startswith(
        str(ws / "objects" / "mlops" / "raw")
    )
    assert [f["name"] for f in extract["facets"]["schema"]["fields"]][:2] == [
        "customer_id",
        "event_timestamp",
    ]
    metrics = extract["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 2000 and metrics["columnMetrics"]["income"]["nullCount"] > 0
    assert metrics["columnMetrics"]["customer_id"]["nullCount"] == 0
    assert _ids(_datasets(events, STEPS[1], "inputs")) == _ids([extract])
    (version,) = _datasets(events, STEPS[1], "outputs")
    assert version["name"] == str(ws / "data-registry" / "data" / "customers.parquet")
    assert version["facets"]["version"]["datasetVersion"].startswith("data-v1 (md5 ")
    (validated,) = _datasets(events, STEPS[2], "inputs")
    assert _ids([validated]) == _ids([version])
    checks = validated["inputFacets"]["dataQualityAssertions"]["assertions"]
    outcomes = {(c["assertion"], c.get("column")): c["success"] for c in checks}
    assert outcomes[("expect_column_values_to_be_unique", "customer_id")] is True
    assert all(c["success"] for c in checks) and len(checks) > 20
    view = _datasets(events, STEPS[3], "outputs")[1]
    assert (view["namespace"], view["name"]) == ("feast://churn", "customer_features")
    derived = view["facets"]["columnLineage"]["fields"]["charges_per_month"]["inputFields"]
    assert [(f["name"], f["field"]) for f in derived] == [
        (version["name"], "tenure_months"),
        (version["name"], "total_charges"),
    ]
    (report,) = _datasets(events, STEPS[2], "outputs")
    assert report["name"] == str(ws / "reports" / "validation" / "customers_data-v1.json")
    assert _ids(_datasets(events, STEPS[3], "inputs")) == _ids([version, report])  # the data and its verdict
    assert _ids(_datasets(events, STEPS[4], "inputs")) == _ids([view])
    (model,) = _datasets(events, STEPS[4], "outputs")
    assert (model["namespace"], model["name"]) == ("mlflow", "churn-predictor")
    assert model["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert model["facets"]["version"]["datasetVersion"] == "1"
    (endpoint,) = _datasets(events, STEPS[5], "outputs")
    assert endpoint["namespace"] == f"http://127.0.0.1:{serving_port(ws)}"
    assert endpoint["name"] == "/v1/models/churn-predictor:predict"


def test_run_all_leaves_a_schema_valid_lineage_of_every_run(lineage: tuple) -> None:
    _, events = lineage
    jobs = {e["job"]["name"] for e in events}
    uc2 = {"uc2_ab_testing", *UC2_STEPS}  # skipped (no challenger), and said so in lineage too
    assert jobs == {
        *STEPS,
        *uc2,
        "uc3_drift_retraining",
        *UC3_STEPS,  # the drift check (too little logged yet) and the retrain it did not call for
        "uc5_fairness_docs",
        *UC5_STEPS,
        DELIVER_STEP,
        QUERY_STEP,
        "uc1_churn_prediction",
        "uc4_data_lineage",
        "uc6_gitops_deployment",
        *UC6_STEPS,  # the champion promoted through git and the local server synced to it
        "run_all",
    }
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    for event in events:
        assert event_errors(event) == [], (event["job"]["name"], event["eventType"])


def test_run_all_ends_with_the_champion_deployed_through_git(lineage: tuple) -> None:
    import subprocess

    ws, events = lineage
    repo = ws / "gitops" / "deploy.git"
    head = subprocess.run(
        ["git", f"--git-dir={repo}", "log", "-1", "--format=%H%n%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert head[1] == "deploy(churn-predictor): promote v1 to staging"
    synced = json.loads((ws / "state" / "steps.json").read_text())[UC6_STEPS[1]]["outputs"]
    assert (synced["version"], synced["revision"], synced["sync"], synced["health"]) == (
        "1",
        head[0],
        "Synced",
        "Healthy",
    )
    (written,) = _datasets(events, UC6_STEPS[0], "outputs")
    assert (written["namespace"], written["name"]) == (repo.as_uri(), "overlays/staging")
    assert written["facets"]["version"]["datasetVersion"] == head[0]
    (read, model) = _datasets(events, UC6_STEPS[1], "inputs")
    assert _ids([read]) == _ids([written]) and (model["namespace"], model["name"]) == (
        "mlflow",
        "churn-predictor",
    )


def _answers(state: dict[str, Any]) -> dict[str, Any]:
    recorded = state[QUERY_STEP]
    return {a["query"]: a for a in recorded["outputs"]["answers"]}


def test_run_all_answers_what_the_table_feeds_and_where_the_champion_came_from(
    lineage: tuple, run_all_ws: dict[str, Any]
) -> None:
    ws, _ = lineage
    answers = _answers(run_all_ws["state"])
    impact, provenance = answers["impact"], answers["provenance"]
    table = f"dataset:sqlite://{ws / 'warehouse' / 'warehouse.db'}:customers"
    # every UC1 step, the chain in its order; the batch scores read the data version itself, so they come sooner
    chain = [s for s in STEPS if s != BATCH_STEP]
    assert impact["node"] == table and [j for j in impact["jobs"] if j in chain] == chain
    assert BATCH_STEP in impact["jobs"]
    # and the drift check, which reads the champion's data version, and UC5's analysis and card of the champion
    assert set(impact["jobs"]) - set(STEPS) == {UC3_STEPS[0], *UC5_STEPS}
    (model,) = impact["model_versions"]
    assert (model["model"], model["version"], model["aliases"]) == (
        "churn-predictor",
        "1",
        ["challenger", "champion"],
    )
    (endpoint,) = impact["endpoints"]
    url = f"http://127.0.0.1:{serving_port(ws)}/v1/models/churn-predictor:predict"
    assert (endpoint["url"], endpoint["serves"], endpoint["affected"]) == (url, "churn-predictor/1", True)
    assert provenance["model"]["version"] == "1" and provenance["model"]["gate"]["passed"] is True
    assert provenance["model"]["mlflow_run_id"] and provenance["consistent"] is True
    assert [t["id"] for t in provenance["tables"]] == [table]
    (extract,) = provenance["extracts"]
    assert extract["name"].startswith(str(ws / "objects" / "mlops" / "raw" / "customers_"))
    (data,) = provenance["data_versions"]
    assert data["version"].startswith("data-v1 (md5 ")
    (check,) = provenance["validation"]
    assert check["status"] == "COMPLETED" and check["passed"] == check["expectations"] > 20
    assert check["version"] == data["version"] and check["failed"] == []
    assert [f["id"] for f in provenance["feature_views"]] == ["dataset:feast://churn:customer_features"]
    for answer in (impact, provenance):
        page = Path(answer["picture"]).read_text()
        assert Path(answer["picture"]).parent == ws / "reports" / "lineage" and "<svg" in page
        assert "<script" not in page and table in page


def test_a_failing_step_emits_fail_with_its_message(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    no_table = ["--set", "dataset.table=nowhere", "--set", "sample_data.enabled=false"]
    proc = run_script("uc1_churn_prediction/run_pipeline.py", *no_table, workspace=ws)
    assert proc.returncode == 3
    events = _events(ws)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("uc1_churn_prediction", "START"),
        (STEPS[0], "START"),
        (STEPS[0], "FAIL"),
        ("uc1_churn_prediction", "FAIL"),
    ]
    message = events[2]["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith("table nowhere does not exist in the warehouse")
    assert f"step {STEPS[0]} failed: table nowhere" in events[3]["run"]["facets"]["errorMessage"]["message"]


class Receiver:
    """A local OpenLineage receiver: records each POSTed body and answers 201, as Marquez does."""

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append({"path": self.path, "event": json.loads(self.rfile.read(length))})
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().serve()
    yield found
    found.stop()


def test_http_delivers_and_an_unreachable_receiver_only_spools(receiver: Receiver, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    settings = ["--set", "lineage.backend=http", "--set", f"lineage.url={receiver.url}"]
    proc = run_script(STEP1, *settings, workspace=ws)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [(b["path"], b["event"]["eventType"]) for b in receiver.bodies] == [
        ("/api/v1/lineage", "START"),
        ("/api/v1/lineage", "COMPLETE"),
    ]
    assert not (ws / "lineage" / "spool.jsonl").exists()

    receiver.stop()
    again = run_script(STEP1, *settings, workspace=ws)
    assert again.returncode == 0 and summary_of(again)["status"] == "ok"
    spooled = _events(ws, "spool.jsonl")
    assert [e["eventType"] for e in spooled] == ["START", "COMPLETE"]
    assert (
        spooled[0]["run"]["runId"]
        == spooled[1]["run"]["runId"]
        != receiver.bodies[0]["event"]["run"]["runId"]
    )
    warnings = [line for line in again.stderr.splitlines() if "lineage: cannot deliver" in line]
    assert len(warnings) == 1 and "events are spooled in" in warnings[0]  # once, not once per event


def test_uc4_01_delivers_the_spool_exactly_once_when_the_receiver_is_back(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    down = Receiver()
    url, port = down.url, down.server.server_address[1]
    down.server.server_close()  # nothing listens there while the step runs
    settings = ["--set", "lineage.backend=http", "--set", f"lineage.url={url}"]
    assert run_script(STEP1, *settings, workspace=ws).returncode == 0
    spooled = _events(ws, "spool.jsonl")
    assert [e["eventType"] for e in spooled] == ["START", "COMPLETE"]

    back = Receiver(port).serve()
    try:
        first = run_script(DELIVER, *settings, workspace=ws)
        second = run_script(DELIVER, *settings, workspace=ws)
    finally:
        back.stop()
    assert first.returncode == 0, first.stderr[-2000:]
    assert summary_of(first)["metrics"] == {"sent": 2, "already_present": 0, "failed": 0, "quarantined": 0}
    assert summary_of(second)["metrics"]["sent"] == 0 and not _events(ws, "spool.jsonl")
    received = [
        (b["event"]["job"]["name"], b["event"]["eventType"], b["event"]["run"]["runId"]) for b in back.bodies
    ]
    step_events = [r for r in received if r[0] == STEPS[0]]
    assert step_events == [
        (STEPS[0], e["eventType"], e["run"]["runId"]) for e in spooled
    ]  # each once, in order
    assert [r[1] for r in received if r[0] == DELIVER_STEP] == [
        "START",
        "COMPLETE",
    ] * 2  # its own, delivered live


def test_uc4_01_backfill_sends_the_recorded_history_once(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_script(STEP1, "--set", "lineage.backend=none", workspace=ws).returncode == 0
    receiver = Receiver().serve()
    try:
        settings = ["--set", "lineage.backend=http", "--set", f"lineage.url={receiver.url}"]
        first = run_script(DELIVER, "--backfill", *settings, workspace=ws)
        again = run_script(DELIVER, "--backfill", *settings, workspace=ws)
    finally:
        receiver.stop()
    assert summary_of(first)["metrics"]["sent"] == 2, first.stderr[-2000:]
    assert summary_of(again)["metrics"] == {"sent": 0, "already_present": 2, "failed": 0, "quarantined": 0}
    history = [b["event"] for b in receiver.bodies if b["event"]["job"]["name"] == STEPS[0]]
    assert [e["eventType"] for e in history] == ["START", "COMPLETE"]
    assert history[1]["outputs"][0]["facets"]["dataQualityMetrics"]["rowCount"] == 2000


def test_uc4_02_answers_from_the_command_line_and_names_what_it_cannot_find(lineage: tuple) -> None:
    """It adds its own runs to the shared workspace: the other tests read what run_all left, kept aside."""
    ws, _ = lineage
    proc = run_script(QUERY, "--upstream", "customer_features", "--model", "churn-predictor/1", workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    upstream, provenance = summary_of(proc)["outputs"]["answers"]
    assert upstream["node"] == "dataset:feast://churn:customer_features"
    assert upstream["upstream"][-1]["type"] == "TABLE"
    assert provenance["data_versions"][0]["version"].startswith("data-v1 (md5 ")
    assert "provenance of churn-predictor/1 (challenger, champion):" in proc.stderr
    assert "validation    uc1_03_data_validation_ge:" in proc.stderr
    unknown = run_script(QUERY, "--impact", "nowhere", workspace=ws)
    assert unknown.returncode == 2 and "no dataset or job named 'nowhere'" in unknown.stderr
    vague = run_script(QUERY, "--model", "churn-predictor", workspace=ws)
    assert vague.returncode == 2 and "give NAME@ALIAS (churn-predictor@champion) or NAME/N" in vague.stderr
    nobody = run_script(QUERY, "--model", "churn-predictor@nobody", workspace=ws)
    assert (
        nobody.returncode == 2 and "models:/churn-predictor has no version or alias 'nobody'" in nobody.stderr
    )
