"""Step 06: serve the registry's champion. Locally a KServe ModelServer process on serving.host (pid and log in
<workspace>/serving/); with serving.mode kserve, an InferenceService on the cluster. Deploying what is already
served (same version, same settings) is a no-op; a running server switches to the new version in place, with no
connection refused (it loads beside the old one; one that fails to load never takes traffic, and is tagged so it
is not tried again until its artifacts change); another process on the port stops the step before anything
starts; a new server counts as ready only when it answers as itself (its pid and version).

  --stop    stop the local server"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from pathlib import Path
from typing import Any

from common.cli import action_parser, execute, run_step
from common.model.version import ModelVersion, require
from common.serving import local_server, serve_local
from common.serving.versions import local_endpoint, server_spec
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

ROLE = "serve"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    target = require(cfg, ws, cfg.serving.alias)
    if cfg.serving.mode == "kserve":
        from common.serving.kserve_deploy import deploy

        done = deploy(cfg, ws, target.source, target.version)
        return _result(cfg, target, {**done, "changed": True})
    spec = server_spec(cfg, ws, target, cfg.serving.alias)
    done = serve_local.ensure(cfg, ws, spec, target)
    return _result(cfg, target, {"changed": done["changed"], "pid": done["pid"], "smoke": _smoke(cfg, ws)})


def _smoke(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """One prediction for a customer of the validated data, through the HTTP API."""
    import pandas as pd

    ds = cfg.dataset
    from common.chain import VALIDATE
    from common.chain.records import Validated

    row = pd.read_parquet(Validated.of(ws.require(VALIDATE, f"run {VALIDATE}.py first")).path).iloc[0]
    instance = {
        c: (None if pd.isna(row[c]) else row[c].item() if hasattr(row[c], "item") else row[c])
        for c in [ds.id_column, *ds.numeric, *ds.categorical]
    }
    answer = post(cfg, {"instances": [instance]})
    return answer["predictions"][0]


def post(cfg: Settings, body: dict[str, Any]) -> dict[str, Any]:
    url = local_endpoint(cfg)
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _result(cfg: Settings, target: ModelVersion, done: dict[str, Any]) -> StepResult:
    return StepResult(
        step=STEP,
        outputs={
            "mode": cfg.serving.mode,
            "endpoint": done.get("url") or local_endpoint(cfg),
            "version": target.version,
            "alias": cfg.serving.alias,
            "model_uri": target.model_uri,
            **done,
        },
        datasets_read=[target.model_uri],
        datasets_written=[_served_at(cfg, done)],
    )


def _served_at(cfg: Settings, done: dict[str, Any]) -> str:
    """The endpoint as a dataset: the local server's URL, or the InferenceService."""
    if cfg.serving.mode == "kserve":
        return f"kserve://{cfg.serving.namespace}/{cfg.training.registered_model}"
    return done.get("url") or local_endpoint(cfg)


def main(argv: list[str] | None = None) -> int:
    args = action_parser(
        __doc__ or STEP,
        stop="stop the local model server and exit",
        foreground="serve in this process (containers)",
    ).parse_args(argv)
    command: list[str] = []

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        if args.stop:
            stopped = local_server.stop(ws)
            return {"step": STEP, "status": "ok", "stopped": stopped["version"] if stopped else None}
        if args.foreground:
            command.extend(_foreground_command(cfg, ws))
            return {"step": STEP, "status": "ok", "exec": command}
        return run_step(STEP, run, cfg, ws).to_dict()

    code = execute(STEP, USE_CASE, args, body)
    if code == 0 and command:  # after execute: the use case's lock is released, not inherited by the server
        os.execv(command[0], command)
    return code


def _foreground_command(cfg: Settings, ws: Workspace) -> list[str]:
    target = require(cfg, ws, cfg.serving.alias)
    spec = server_spec(cfg, ws, target, cfg.serving.alias)
    return local_server.command(local_server.write_spec(ws, spec), spec)


if __name__ == "__main__":
    raise SystemExit(main())
