"""Step 01 of UC2: put the candidate (the challenger) beside the stable version (the champion) on a share of the
requests, ab_testing.canary_percent. Locally one model server process serves both behind the public model name,
split by a hash of the customer id (sticky) or per request (random); a header may pin a version, and every answer
names its version. With serving.mode kserve, the InferenceService gets the candidate with canaryTrafficPercent
(Serverless mode). No challenger, or one that is the champion: skipped, exit 0; no experiment is faked."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from common.cli import step_main
from common.errors import MissingInputError
from common.serving import local_server
from common.serving.canary import canary_spec
from common.serving.versions import by_alias, local_endpoint, server_spec
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc2_ab_testing import USE_CASE

STEP = Path(__file__).stem
log = logging.getLogger(f"uc2_ab_testing.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    ab, name = cfg.ab_testing, cfg.training.registered_model
    stable = by_alias(cfg, ws, ab.stable_alias)
    if stable is None:
        raise MissingInputError(
            f"no version of {name} has the alias {ab.stable_alias}: run uc1_churn_prediction/run_pipeline.py first"
        )
    candidate = by_alias(cfg, ws, ab.candidate_alias)
    if candidate is None or candidate["version"] == stable["version"]:
        reason = (
            f"no version of {name} has the alias {ab.candidate_alias}"
            if candidate is None
            else f"the {ab.candidate_alias} is version {stable['version']}, the {ab.stable_alias} itself"
        )
        log.info("nothing to test: %s", reason)
        return StepResult(
            step=STEP, status="skipped", outputs={"reason": reason, "stable": stable["version"]}
        )
    if cfg.serving.mode == "kserve":
        from common.serving.kserve_deploy import deploy

        done = deploy(cfg, ws, candidate["storage_uri"], candidate["version"], ab.canary_percent)
        return _result(
            cfg, stable, candidate, {**done, "changed": True}, f"kserve://{cfg.serving.namespace}/{name}"
        )
    spec = canary_spec(server_spec(cfg, ws, stable, ab.stable_alias), candidate, ab)
    current = local_server.state(ws)
    same = current is not None and current["spec"] == json.loads(json.dumps(spec))
    if same and local_server.answers_as(spec, current["pid"]):
        log.info("the split %s / %s is already served", stable["version"], candidate["version"])
        return _result(cfg, stable, candidate, {"changed": False, "pid": current["pid"]}, local_endpoint(cfg))
    local_server.check_port(spec, current)
    pid = local_server.replace(ws, spec, cfg.serving.ready_timeout_s)
    log.info(
        "serving version %s with version %s on %.4g%% of requests (%s routing)",
        stable["version"],
        candidate["version"],
        ab.canary_percent,
        ab.routing,
    )
    return _result(cfg, stable, candidate, {"changed": True, "pid": pid}, local_endpoint(cfg))


def _result(
    cfg: Settings, stable: dict[str, Any], candidate: dict[str, Any], done: dict[str, Any], endpoint: str
) -> StepResult:
    ab = cfg.ab_testing
    return StepResult(
        step=STEP,
        outputs={
            "mode": cfg.serving.mode,
            "endpoint": done.get("url") or endpoint,
            "stable": stable["version"],
            "candidate": candidate["version"],
            "canary_percent": ab.canary_percent,
            "routing": ab.routing,
            "pin_header": ab.pin_header,
            **done,
        },
        datasets_read=[stable["model_uri"], candidate["model_uri"]],
        datasets_written=[endpoint],
    )


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
