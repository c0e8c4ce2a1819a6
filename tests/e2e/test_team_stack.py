"""The lifecycle on a team's stack, every component on its real service at once (examples/team.yaml, brought up by
deploy/team/stack.py): the warehouse on PostgreSQL; extracts, the DVC remote, MLflow's artifacts and the inference
log in one S3 bucket (moto's server); MLflow as a tracking server on PostgreSQL; Feast's SQL registry in
PostgreSQL and its online store on Redis; metrics pushed to a Pushgateway that Prometheus scrapes; lineage over
HTTP; the deployment repo on a git remote. The story of README's "A day in the life" is played once; each test
reads what one service ends up holding. Every credential the config reads carries one recognisable secret (the
services here ignore it: PostgreSQL's trust auth, moto, Pushgateway and Prometheus without auth, the receiver);
it must be found nowhere the story wrote or printed. Then one service is stopped at a time: the pipelines fail
with exit 1 and a message naming it, or carry on where the design says they do (metrics, lineage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.redact import without_credentials
from tests.conftest import (
    ROOT,
    free_port,
    require_binary,
    require_service,
    run_script,
    serving_port,
    summary_of,
)

MODEL = "churn-predictor"
TEAM = ["--config", "examples/team.yaml"]
FAST = {
    "MLOPS__SERVING__INFERENCE_LOG__FLUSH_S": "1",
    "MLOPS__AB_TESTING__INTERVAL_S": "1.5",
    "MLOPS__AB_TESTING__ITERATIONS": "4",
    "MLOPS__AB_TESTING__MIN_REQUESTS": "20",
    "MLOPS__AB_TESTING__REPLAY_RATE": "100",
    "MLOPS__RETRY__ATTEMPTS": "2",
}
SECRET = "Sw0rdfish-4ab9e"
DRIFTED = ["--rows", "600", "--drift", "--append", "--id-offset", "100000", "--seed", "7"]
STACK = ROOT / "deploy" / "team" / "stack.py"


def _stack(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(STACK), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The stack on free loopback ports, its databases under a prefix of this run; all of it gone after."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    for binary in ("prometheus", "prometheus-pushgateway"):
        require_binary(binary, binary)
    folder = tmp_path_factory.mktemp("team")
    names = ("S3", "MLFLOW", "PUSHGATEWAY", "PROMETHEUS", "LINEAGE", "GIT", "SERVING")
    ports = {f"TEAM_{n}_PORT": str(free_port()) for n in names}
    ports["TEAM_SERVING_PORT"] = str(serving_port(folder / "ws"))  # the port run_script gives the workspace
    prefix = f"team_{uuid.uuid4().hex[:8]}"
    control = {**os.environ, **ports, "TEAM_STACK_DIR": str(folder / "stack"), "TEAM_DB_PREFIX": prefix}
    control["TEAM_ROWS"] = "2000"
    ws = folder / "ws"
    try:
        said = _stack(control, "up")
        env = dict(line.removeprefix("export ").split("=", 1) for line in said.splitlines() if "=" in line)
        env = {**env, **_secrets(env), "MLOPS_WORKSPACE": str(ws)}
        yield {"env": env, "control": control, "folder": folder, "printed": []}
    finally:
        if ws.exists():  # the model server the story started
            run_script("uc1_churn_prediction/uc1_06_model_serving_kserve.py", "--stop", workspace=ws)
        _stack(control, "down")
        _drop(prefix)


def _secrets(env: dict[str, str]) -> dict[str, str]:
    """SECRET in every credential examples/team.yaml reads: the databases', the tracking server's and the metrics
    services' URLs (as a password), the bucket's secret key and the lineage API key."""

    def with_password(url: str, user: str) -> str:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{user}:{SECRET}@{rest.split('@', 1)[-1]}"

    return {
        "WAREHOUSE_URL": with_password(env["WAREHOUSE_URL"], "postgres"),
        "FEAST_REGISTRY_URL": with_password(env["FEAST_REGISTRY_URL"], "postgres"),
        "PUSHGATEWAY_URL": with_password(env["PUSHGATEWAY_URL"], "metrics"),
        "PROMETHEUS_URL": with_password(env["PROMETHEUS_URL"], "prom"),
        "MLFLOW_TRACKING_URI": with_password(env["MLFLOW_TRACKING_URI"], "team"),
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "MARQUEZ_API_KEY": SECRET,
    }


def _drop(prefix: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        for name in ("warehouse", "mlflow", "feast"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)'))
    admin.dispose()


def _user(stack: dict[str, Any], script: str, *args: str) -> dict[str, Any]:
    """A command as the user types it, on the team config; it must succeed; its JSON summary line."""
    ws = Path(stack["env"]["MLOPS_WORKSPACE"])
    proc = run_script(script, *args, *TEAM, workspace=ws, env={**stack["env"], **FAST})
    stack["printed"].append((f"{script} {args}", proc.stdout + proc.stderr))
    assert proc.returncode == 0, f"{script} {args}: {proc.stderr[-3000:]}"
    return summary_of(proc)


@pytest.fixture(scope="module")
def story(stack: dict[str, Any]) -> dict[str, Any]:
    """README's "A day in the life", on the team's services: UC1, the drifted batch, UC3, UC2 and UC6. UC5 uses
    no service the others do not (it is played on the embedded defaults by test_lifecycle_story.py); UC4's
    answers read Marquez's API, which deploy/compose/ runs: here the events reach stack.py's receiver."""
    env = stack["env"]
    endpoint = f"http://127.0.0.1:{serving_port(Path(env['MLOPS_WORKSPACE']))}/v1/models/{MODEL}:predict"
    out: dict[str, Any] = {"uc1": _user(stack, "uc1_churn_prediction/run_pipeline.py")}
    batch = stack["folder"] / "drifted.parquet"
    _user(stack, "common/data/sample_data.py", *DRIFTED, "--out", str(batch))
    _user(
        stack,
        "-m",
        "common.experiment.replay",
        "--data",
        str(batch),
        "--endpoint",
        endpoint,
        "--duration",
        "4",
    )
    _user(stack, "uc1_churn_prediction/uc1_06_model_serving_kserve.py", "--stop")
    out["labels"] = _user(stack, "common/data/sample_data.py", "--feedback")
    out["uc3"] = _user(stack, "uc3_drift_retraining/run_pipeline.py")
    _user(stack, "uc1_churn_prediction/uc1_06_model_serving_kserve.py")
    out["uc2"] = _user(stack, "uc2_ab_testing/run_pipeline.py")
    out["uc6"] = _user(stack, "uc6_gitops_deployment/run_pipeline.py")
    out["state"] = json.loads((Path(env["MLOPS_WORKSPACE"]) / "state" / "steps.json").read_text())
    return out


def test_the_story_runs_on_the_team_stack(story: dict[str, Any]) -> None:
    state = story["state"]
    assert state["uc3_02_trigger_retrain_kubeflow"]["outputs"]["version"] == "2"
    assert state["uc2_03_monitor_experiment"]["outputs"]["decision"] == "promote"
    assert state["uc6_02_sync_argocd"]["outputs"]["version"] == "2"


def test_the_tracking_server_holds_the_versions_and_aliases(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    from mlflow import MlflowClient

    uri = stack["env"]["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = {v.version for v in client.search_model_versions(f"name='{MODEL}'")}
    assert versions == {"1", "2"}
    assert client.get_registered_model(MODEL).aliases == {"champion": "2", "challenger": "2", "previous": "1"}
    source = client.get_model_version(MODEL, "2").source
    assert source.startswith(("models:/", "mlflow-artifacts:")), source  # served by the server, not a path


def _s3(stack: dict[str, Any]) -> Any:
    import boto3

    env = stack["env"]
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _bucket(stack: dict[str, Any]) -> set[str]:
    pages = _s3(stack).get_paginator("list_objects_v2").paginate(Bucket=stack["env"]["S3_BUCKET"])
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def _objects(stack: dict[str, Any]) -> dict[str, bytes]:
    s3, bucket = _s3(stack), stack["env"]["S3_BUCKET"]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(_bucket(stack))}


def test_the_bucket_holds_extracts_the_dvc_cache_mlflows_artifacts_and_the_log(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    keys = _bucket(stack)
    assert {k.split("/", 1)[0] for k in keys} >= {"raw", "dvc", "mlflow", "inference-log", "predictions"}
    assert sum(k.startswith("raw/") and k.endswith(".parquet") for k in keys) >= 2  # data-v1's and data-v2's
    assert any(k.startswith("mlflow/") and k.endswith("model.pkl") for k in keys)
    assert any(k.startswith("inference-log/date=") for k in keys)
    assert not (Path(stack["env"]["MLOPS_WORKSPACE"]) / "objects").exists()  # nothing went to a local folder


def test_the_postgresql_feast_registry_holds_the_feature_view(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack["env"]["FEAST_REGISTRY_URL"])
    try:
        with engine.connect() as conn:
            views = set(conn.execute(text("SELECT feature_view_name, project_id FROM feature_views")))
    finally:
        engine.dispose()
    assert ("customer_features", "churn") in views
    assert not (Path(stack["env"]["MLOPS_WORKSPACE"]) / "feast" / "registry.db").exists()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_the_pushgateway_has_the_pipelines_figures_and_prometheus_answers_the_dashboard(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    import time

    env = stack["env"]
    groups = _get(f"{without_credentials(env['PUSHGATEWAY_URL'])}/api/v1/metrics")["data"]
    pipelines = {g["labels"].get("pipeline") for g in groups}
    ran = {"uc1_churn_prediction", "uc2_ab_testing", "uc3_drift_retraining"}
    assert ran | {"uc6_gitops_deployment", "champion"} <= pipelines, pipelines
    assert any("mlops_drift_share" in g for g in groups)
    board = json.loads((ROOT / "deploy/monitoring/grafana/dashboards/churn-mlops.json").read_text())
    queries = [q.replace("$model", MODEL).replace("$__rate_interval", "1m") for q in _exprs(board)]
    pushed = ("mlops_drift_share", "mlops_model_champion_version", "mlops_model_metric", "mlops_pipeline_")
    prometheus = without_credentials(env["PROMETHEUS_URL"])
    deadline = time.monotonic() + 30  # a scrape or two after the last push
    while True:
        answers = {q: _get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(q)}") for q in queries}
        empty = [q for q, a in answers.items() if any(p in q for p in pushed) and not a["data"]["result"]]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert all(a["status"] == "success" for a in answers.values())
    assert not empty, empty
    champion = answers[f'max(mlops_model_champion_version{{model_name=~"{MODEL}"}})']["data"]["result"]
    assert float(champion[0]["value"][1]) == 2


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["expr"]] if "expr" in node else []) + [e for v in node.values() for e in _exprs(v)]
    return [e for v in node for e in _exprs(v)] if isinstance(node, list) else []


def test_the_lineage_endpoint_received_every_steps_events(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    events = [
        json.loads(line)
        for line in (stack["folder"] / "stack" / "lineage" / "events.jsonl").read_text().splitlines()
    ]
    state = story["state"]
    jobs = {e["job"]["name"] for e in events if e["eventType"] == "COMPLETE"}
    assert {step for step, run in state.items() if run["status"] == "ok" and step.startswith("uc")} <= jobs
    spool = Path(stack["env"]["MLOPS_WORKSPACE"]) / "lineage" / "spool.jsonl"
    assert not spool.exists() or not spool.read_text().strip()  # none waits to be sent again


def test_the_deployment_remote_has_the_commits(stack: dict[str, Any], story: dict[str, Any]) -> None:
    url = stack["env"]["GITOPS_REPO_URL"]
    clone = stack["folder"] / "clone"
    subprocess.run(["git", "clone", "--quiet", url, str(clone)], check=True)
    log = subprocess.run(
        ["git", "-C", str(clone), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout
    assert "promote v2 to staging" in log, log


def _mlflow_records(uri: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    said: list[Any] = []
    for experiment in client.search_experiments():
        for found in client.search_runs([experiment.experiment_id]):
            said += [found.data.params, found.data.tags, found.info.artifact_uri]
    for version in client.search_model_versions(f"name='{MODEL}'"):
        said += [version.tags, version.source]
    return repr(said)


def test_the_secret_is_found_nowhere(stack: dict[str, Any], story: dict[str, Any]) -> None:
    """Not in what a command printed, a file of the workspace (logs, state, reports, manifests, the server's
    spec), an object of the bucket, the deployment remote's history, MLflow's params, tags and sources, what the
    Pushgateway holds or the lineage events."""
    env, ws = stack["env"], Path(stack["env"]["MLOPS_WORKSPACE"])
    places = dict(stack["printed"])
    with urllib.request.urlopen(f"{without_credentials(env['PUSHGATEWAY_URL'])}/metrics", timeout=10) as resp:
        places["the Pushgateway"] = resp.read().decode()
    places["MLflow's params, tags and sources"] = _mlflow_records(env["MLFLOW_TRACKING_URI"])
    places["the lineage events"] = (stack["folder"] / "stack" / "lineage" / "events.jsonl").read_text()
    clone = stack["folder"] / "secret-check.git"
    subprocess.run(["git", "clone", "--quiet", "--mirror", env["GITOPS_REPO_URL"], str(clone)], check=True)
    places["the deployment remote's history"] = subprocess.run(
        ["git", f"--git-dir={clone}", "log", "-p", "--all"], capture_output=True, text=True, check=True
    ).stdout
    for path in ws.rglob("*"):
        if path.is_file():
            places[str(path.relative_to(ws))] = path.read_bytes().decode(errors="replace")
    for key, body in _objects(stack).items():
        places[f"s3://{env['S3_BUCKET']}/{key}"] = body.decode(errors="replace")
    assert "mlops_pipeline" in places["the Pushgateway"]  # each place was read, not found empty
    assert "promote v2" in places["the deployment remote's history"] and any(
        n.startswith("logs/") for n in places
    )
    assert sum(n.startswith("s3://") for n in places) > 10
    found = {
        name: text[max(0, text.index(SECRET) - 120) : text.index(SECRET)]
        for name, text in places.items()
        if SECRET in text
    }
    assert found == {}, f"the secret is in (with what came before it): {found}"


def _failing(stack: dict[str, Any], script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A command expected to fail or warn: what it says must still keep the secret."""
    ws = Path(stack["env"]["MLOPS_WORKSPACE"])
    proc = run_script(script, *args, *TEAM, workspace=ws, env={**stack["env"], **FAST})
    assert SECRET not in proc.stdout + proc.stderr
    return proc


def test_z1_metrics_and_lineage_down_the_pipelines_carry_on(
    stack: dict[str, Any], story: dict[str, Any]
) -> None:
    """The Pushgateway and the lineage receiver stopped: a pipeline runs its steps and exits 0, warning that its
    figures were not pushed; its lineage events wait in the spool for the next run."""
    _stack(stack["control"], "stop", "pushgateway")
    _stack(stack["control"], "stop", "lineage")
    ws = Path(stack["env"]["MLOPS_WORKSPACE"])
    proc = _failing(stack, "uc2_ab_testing/run_pipeline.py")  # v2 is champion and challenger: nothing to test
    assert proc.returncode == 0 and summary_of(proc)["status"] == "skipped", proc.stderr[-3000:]
    gateway = without_credentials(stack["env"]["PUSHGATEWAY_URL"])  # named without its user part
    assert f"figures not written to the Pushgateway {gateway}" in proc.stderr
    spooled = (ws / "lineage" / "spool.jsonl").read_text().splitlines()
    assert {json.loads(line)["job"]["name"] for line in spooled} >= {"uc2_01_deploy_canary_kserve"}


def test_z2_the_tracking_server_down_fails_naming_it(stack: dict[str, Any], story: dict[str, Any]) -> None:
    ws = Path(stack["env"]["MLOPS_WORKSPACE"])
    cards = sorted((ws / "reports").rglob("*.html"))
    _stack(stack["control"], "stop", "mlflow")
    proc = _failing(stack, "uc2_ab_testing/uc2_01_deploy_canary_kserve.py")
    assert proc.returncode == 1, proc.stderr[-3000:]
    error = summary_of(proc)["error"]
    server = without_credentials(stack["env"]["MLFLOW_TRACKING_URI"])
    assert f"MLflow tracking server {server} (mlflow.tracking_uri) cannot" in error
    assert sorted((ws / "reports").rglob("*.html")) == cards  # nothing half-written


def test_z3_the_bucket_down_fails_naming_it(stack: dict[str, Any], story: dict[str, Any]) -> None:
    ws = Path(stack["env"]["MLOPS_WORKSPACE"])
    _stack(stack["control"], "stop", "s3")
    proc = _failing(stack, "uc1_churn_prediction/uc1_01_data_ingestion_postgres.py")
    assert proc.returncode == 1, proc.stderr[-3000:]
    error = summary_of(proc)["error"]
    assert f"object store s3://team at {stack['env']['S3_ENDPOINT_URL']} (object_store.endpoint_url)" in error
    assert not [p for p in (ws / "tmp").rglob("*") if p.is_file()]  # no extract left half-written
