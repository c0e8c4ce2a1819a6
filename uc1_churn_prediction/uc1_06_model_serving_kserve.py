"""Step 06: serve the registry's champion. Locally a KServe ModelServer process on localhost (pid and log in
<workspace>/serving/); with serving.mode kserve, an InferenceService on the cluster. Deploying the version already
served is a no-op; a new version that does not become ready is rolled back to the previous one.

  --stop    stop the local server"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

from common.cli import base_parser, execute, run_step
from common.errors import MissingInputError, MlopsError
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE, local_server
from uc1_churn_prediction.feast_store import repo_config
from uc1_churn_prediction.model_registry import client_for, tracking_uri

STEP = Path(__file__).stem
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    target = _target(cfg, ws)
    if cfg.serving.mode == "kserve":
        from uc1_churn_prediction.kserve_deploy import deploy

        done = deploy(cfg, ws, target["storage_uri"], target["version"])
        return _result(cfg, target, {**done, "changed": True})
    spec = _spec(cfg, ws, target)
    current = local_server.state(ws)
    if (
        current
        and current["version"] == target["version"]
        and local_server.ready(cfg.serving.host, current["port"])
    ):
        log.info("version %s is already served on port %s: nothing to do", target["version"], current["port"])
        return _result(cfg, target, {"changed": False, "pid": current["pid"], "smoke": _smoke(cfg, ws)})
    previous = local_server.stop(ws)
    proc = local_server.start(ws, spec)
    if not local_server.wait_ready(cfg.serving.host, cfg.serving.port, proc, cfg.serving.ready_timeout_s):
        local_server.kill(proc.pid)
        raise MlopsError(
            f"version {target['version']} did not become ready within {cfg.serving.ready_timeout_s}s "
            f"(log {ws.dir('serving') / 'server.log'}); {_restore(cfg, ws, previous)}"
        )
    local_server.record(ws, proc, spec)
    return _result(cfg, target, {"changed": True, "pid": proc.pid, "smoke": _smoke(cfg, ws)})


def _target(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """The registered version behind the configured alias, its threshold and artifact location."""
    from mlflow.exceptions import MlflowException

    name, alias = cfg.training.registered_model, cfg.serving.alias
    client = client_for(tracking_uri(cfg, ws))
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        raise MissingInputError(
            f"no version of {name} has the alias {alias}: run uc1_05_model_training_kubeflow.py first"
        ) from None
    return {
        "version": str(version.version),
        "model_uri": f"models:/{name}/{version.version}",
        "threshold": float(version.tags.get("decision_threshold", 0.5)),
        "storage_uri": client.get_model_version_download_uri(name, str(version.version)),
    }


def _spec(cfg: Settings, ws: Workspace, target: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": cfg.training.registered_model,
        "registered_model": cfg.training.registered_model,
        "version": target["version"],
        "alias": cfg.serving.alias,
        "model_uri": target["model_uri"],
        "tracking_uri": tracking_uri(cfg, ws),
        "decision_threshold": target["threshold"],
        "dataset": cfg.dataset.model_dump(),
        "features": cfg.features.model_dump(),
        "repo_config": repo_config(cfg, ws) if cfg.serving.feast_completion else None,
        "max_batch": cfg.serving.max_batch,
        "port": cfg.serving.port,
        "host": cfg.serving.host,
    }


def _restore(cfg: Settings, ws: Workspace, previous: dict[str, Any] | None) -> str:
    """Serve the previous version again after a failed deploy."""
    if previous is None:
        return "nothing was served before, so nothing is served now"
    proc = local_server.start(ws, previous["spec"])
    if local_server.wait_ready(cfg.serving.host, previous["port"], proc, cfg.serving.ready_timeout_s):
        local_server.record(ws, proc, previous["spec"])
        return f"version {previous['version']} serves again"
    local_server.kill(proc.pid)
    return f"version {previous['version']} could not be restarted either"


def _smoke(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """One prediction for a customer of the validated data, through the HTTP API."""
    import pandas as pd

    ds = cfg.dataset
    row = pd.read_parquet(ws.require("uc1_03_data_validation_ge", "run step 03 first").outputs["path"]).iloc[
        0
    ]
    instance = {
        c: (None if pd.isna(row[c]) else row[c].item() if hasattr(row[c], "item") else row[c])
        for c in [ds.id_column, *ds.numeric, *ds.categorical]
    }
    answer = post(cfg, {"instances": [instance]})
    return answer["predictions"][0]


def post(cfg: Settings, body: dict[str, Any]) -> dict[str, Any]:
    url = f"http://{cfg.serving.host}:{cfg.serving.port}/v1/models/{cfg.training.registered_model}:predict"
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _result(cfg: Settings, target: dict[str, Any], done: dict[str, Any]) -> StepResult:
    endpoint = (
        f"http://{cfg.serving.host}:{cfg.serving.port}/v1/models/{cfg.training.registered_model}:predict"
    )
    return StepResult(
        step=STEP,
        outputs={
            "mode": cfg.serving.mode,
            "endpoint": done.get("url") or endpoint,
            "version": target["version"],
            "alias": cfg.serving.alias,
            "model_uri": target["model_uri"],
            **done,
        },
        datasets_read=[target["model_uri"]],
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or STEP)
    parser.add_argument("--stop", action="store_true", help="stop the local model server and exit")
    args = parser.parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        if args.stop:
            stopped = local_server.stop(ws)
            return {"step": STEP, "status": "ok", "stopped": stopped["version"] if stopped else None}
        return run_step(STEP, run, cfg, ws).to_dict()

    return execute(STEP, USE_CASE, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
