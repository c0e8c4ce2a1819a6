"""Step 06: serve the registry's champion. Locally a KServe ModelServer process on serving.host (pid and log in
<workspace>/serving/); with serving.mode kserve, an InferenceService on the cluster. Deploying what is already
served (same version, same settings) is a no-op; another process on the port stops the step before anything
starts; a new server counts as ready only when it answers as itself (its pid and version), and one that does not
is rolled back to the previous version.

  --stop    stop the local server"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

from common.cli import base_parser, execute, run_step
from common.errors import MissingInputError, MlopsError
from common.features.feast_store import offline_source, repo_config, source_id_type
from common.model.registry import client_for, tracking_uri
from common.serving import local_server
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

STEP = Path(__file__).stem
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    target = _target(cfg, ws)
    if cfg.serving.mode == "kserve":
        from common.serving.kserve_deploy import deploy

        done = deploy(cfg, ws, target["storage_uri"], target["version"])
        return _result(cfg, target, {**done, "changed": True})
    spec = _spec(cfg, ws, target)
    current = local_server.state(ws)
    same = current is not None and current["spec"] == json.loads(json.dumps(spec))
    if same and local_server.answers_as(spec, current["pid"]):
        log.info("version %s is already served on port %s: nothing to do", target["version"], current["port"])
        return _result(cfg, target, {"changed": False, "pid": current["pid"], "smoke": _smoke(cfg, ws)})
    _check_port(spec, current)
    previous = local_server.stop(ws)
    proc = local_server.start(ws, spec)
    try:
        local_server.wait_ready(spec, proc, cfg.serving.ready_timeout_s)
    except local_server.ServerNotReadyError as exc:
        local_server.kill(proc.pid)
        raise MlopsError(
            f"{exc} (log {ws.dir('serving') / 'server.log'}); {_restore(cfg, ws, previous)}"
        ) from None
    local_server.record(ws, proc, spec)
    return _result(cfg, target, {"changed": True, "pid": proc.pid, "smoke": _smoke(cfg, ws)})


def _check_port(spec: dict[str, Any], current: dict[str, Any] | None) -> None:
    """Refuse to start beside another listener: its answers would pass for ours. Our own server, about to be
    replaced, may hold the port."""
    holder = local_server.port_holder(spec["host"], spec["port"])
    if holder is None or (current is not None and holder.pid == current["pid"]):
        return
    raise local_server.PortInUseError(
        f"port {spec['port']} on {spec['host']} is in use by {holder}: stop it, or set serving.port to a free "
        "port; nothing was started"
    )


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
        # the id type the online store holds (auto resolved by step 01): the request contract's
        "dataset": cfg.dataset.model_dump()
        | {"id_type": source_id_type(offline_source(cfg, ws), cfg.dataset)},
        "features": cfg.features.model_dump(),
        "repo_config": repo_config(cfg, ws) if cfg.serving.feast_completion else None,
        "max_batch": cfg.serving.max_batch,
        "max_body_bytes": cfg.serving.max_body_bytes,
        "out_of_range": cfg.serving.out_of_range,
        "port": cfg.serving.port,
        "host": cfg.serving.host,
    }


def _restore(cfg: Settings, ws: Workspace, previous: dict[str, Any] | None) -> str:
    """Serve the previous version again after a failed deploy."""
    if previous is None:
        return "nothing was served before, so nothing is served now"
    proc = local_server.start(ws, previous["spec"])
    try:
        local_server.wait_ready(previous["spec"], proc, cfg.serving.ready_timeout_s)
    except local_server.ServerNotReadyError as exc:
        local_server.kill(proc.pid)
        return f"version {previous['version']} could not be restarted either: {exc}"
    local_server.record(ws, proc, previous["spec"])
    return f"version {previous['version']} serves again"


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
    url = _endpoint(cfg)
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _result(cfg: Settings, target: dict[str, Any], done: dict[str, Any]) -> StepResult:
    return StepResult(
        step=STEP,
        outputs={
            "mode": cfg.serving.mode,
            "endpoint": done.get("url") or _endpoint(cfg),
            "version": target["version"],
            "alias": cfg.serving.alias,
            "model_uri": target["model_uri"],
            **done,
        },
        datasets_read=[target["model_uri"]],
        datasets_written=[_served_at(cfg, done)],
    )


def _served_at(cfg: Settings, done: dict[str, Any]) -> str:
    """The endpoint as a dataset: the local server's URL, or the InferenceService."""
    if cfg.serving.mode == "kserve":
        return f"kserve://{cfg.serving.namespace}/{cfg.training.registered_model}"
    return done.get("url") or _endpoint(cfg)


def _endpoint(cfg: Settings) -> str:
    host = local_server.url_host(cfg.serving.host)
    return f"http://{host}:{cfg.serving.port}/v1/models/{cfg.training.registered_model}:predict"


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
