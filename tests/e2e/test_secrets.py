"""Secrets never leave the process: a recognisable password in every URL key that a run can use here (the
warehouse and the MLflow backend on PostgreSQL, whose trust auth ignores it; the lineage receiver and Prometheus,
unreachable; both Pushgateway keys, on Debian's real Pushgateway, which is sent it as basic auth) while run_all and
UC6 run. It must appear nowhere: stdout, stderr, any file of the workspace (logs, state, lineage, reports, the
server's spec), the deployment repo's history, the MLflow params and tags, or what the Pushgateway holds. The keys
a run cannot reach here (kubeflow.host, the S3 and DVC endpoints) are checked by tests/unit/test_config.py."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port, run_script, summary_of

SECRET = "Sw0rdfish-4ab9e"


def _with_password(url: str, user: str = "postgres") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{SECRET}@{rest.split('@', 1)[-1]}"


def _mlflow_params(tracking_uri: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    said: list[Any] = []
    for experiment in client.search_experiments():
        for found in client.search_runs([experiment.experiment_id]):
            said += [found.data.params, found.data.tags, found.info.artifact_uri]
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name='{model.name}'"):
            said += [version.tags, version.source]
    return repr(said)


def test_a_password_in_every_url_key_is_found_nowhere(tmp_path: Path, pg_url: str, pushgateway: str) -> None:
    ws = tmp_path / "ws"
    dead = free_port()  # nothing listens there
    env = {
        "MLOPS__WAREHOUSE__URL": _with_password(pg_url),
        "MLOPS__MLFLOW__TRACKING_URI": _with_password(pg_url),
        "MLOPS__LINEAGE__BACKEND": "http",
        "MLOPS__LINEAGE__URL": f"http://lineage-bot:{SECRET}@127.0.0.1:{dead}",
        "MLOPS__LINEAGE__TIMEOUT_S": "1",
        "MLOPS__AB_TESTING__PROMETHEUS_URL": f"http://prom:{SECRET}@127.0.0.1:{dead}",
        "MLOPS__MONITORING__PUSHGATEWAY_URL": _with_password(pushgateway, "metrics"),
        "MLOPS__DRIFT__PUSHGATEWAY_URL": _with_password(pushgateway, "drift"),
    }
    procs = [run_script("common/data/sample_data.py", workspace=ws, env=env)]
    assert procs[0].returncode == 0, procs[0].stderr[-2000:]
    procs.append(run_script("run_all.py", workspace=ws, env=env, timeout=900))
    report = summary_of(procs[-1])
    status = {u["use_case"]: u["status"] for u in report["use_cases"]}
    # the lineage receiver is down on purpose: UC4's query fails (naming it without the password), all else ran
    assert status["uc1"] == "ok" and status["uc5"] == "ok" and status["uc4"] == "failed", report
    procs.append(run_script("uc6_gitops_deployment/run_pipeline.py", workspace=ws, env=env))
    assert procs[-1].returncode == 0, procs[-1].stderr[-3000:]
    assert "127.0.0.1" in procs[1].stderr and f"lineage-bot:{SECRET}" not in procs[1].stderr

    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=10) as resp:
        pushed = resp.read().decode()
    assert "mlops_pipeline" in pushed  # the figures arrived, sent with basic auth
    places = {f"{p.args[1:]} stdout/stderr": p.stdout + p.stderr for p in procs}
    places["the Pushgateway"] = pushed
    places["the MLflow params, tags and sources"] = _mlflow_params(pg_url)
    repo = ws / "gitops" / "deploy.git"
    history = subprocess.run(
        ["git", f"--git-dir={repo}", "log", "-p", "--all"], capture_output=True, text=True, check=True
    )
    places["the deployment repo's history"] = history.stdout
    for path in ws.rglob("*"):
        if path.is_file():
            places[str(path.relative_to(ws))] = path.read_bytes().decode(errors="replace")
    assert any(name.startswith("logs/") for name in places) and any(n.startswith("state/") for n in places)
    found = [name for name, text in places.items() if SECRET in text]
    assert found == [], f"the password is in: {found}"
