"""Step 01 of UC2: put the candidate (the challenger) beside the stable version (the champion) on a share of the
requests, ab_testing.canary_percent. Locally one model server process serves both behind the public model name,
split by a hash of the customer id (sticky) or per request (random); a header may pin a version, and every answer
names its version. With serving.mode kserve, the InferenceService gets the candidate in the form
serving.deployment_mode supports: canaryTrafficPercent (Serverless), or a spec.canary entry beside the stable
predictor (Standard, KServe >= 0.20). No challenger, one that is the champion, one an experiment rejected (until it
is retrained, or --retry-rejected) or one that failed to load (until its artifacts change): skipped, exit 0, saying
why; no experiment is faked. A decision of an earlier experiment that a kill left half done is finished first."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.cli import base_parser, execute, run_step
from common.errors import ConfigError
from common.experiment.canary import canary_spec
from common.model.version import ModelVersion, find, require
from common.serving import local_server, serve_local
from common.serving.versions import local_endpoint, server_spec
from common.settings import Settings
from common.step import Outputs, StepResult
from common.workspace import Workspace
from uc2_ab_testing import RETRY_HELP, USE_CASE

STEP = Path(__file__).stem
log = logging.getLogger(f"uc2_ab_testing.{STEP}")


@dataclass(frozen=True)
class Canary(Outputs):
    """What the experiment reads of the split: where it answers, and the two versions in it."""

    endpoint: str
    stable: str
    candidate: str


def run(cfg: Settings, ws: Workspace) -> StepResult:
    from common.experiment.act import resume

    resume(cfg, ws)  # first, a decision of an earlier experiment that a kill left half done
    ab, name = cfg.ab_testing, cfg.training.registered_model
    stable = require(cfg, ws, ab.stable_alias)
    candidate = find(cfg, ws, ab.candidate_alias)
    reason = _nothing_to_test(cfg, ws, stable, candidate)
    if reason or candidate is None:
        log.info("nothing to test: %s", reason)
        return StepResult(step=STEP, status="skipped", outputs={"reason": reason, "stable": stable.version})
    if cfg.serving.mode == "kserve":
        from common.serving.kserve_deploy import Served, deploy

        if ab.mode == "shadow":  # KServe's InferenceService splits traffic; it does not mirror it
            raise ConfigError(
                "ab_testing.mode shadow is served by the local model server only: an InferenceService has no "
                "mirroring. With serving.mode kserve set ab_testing.mode: split"
            )
        beside = Served(stable.version, stable.source)
        done = deploy(cfg, ws, candidate.source, candidate.version, ab.canary_percent, beside)
        return _result(
            cfg, stable, candidate, {**done, "changed": True}, f"kserve://{cfg.serving.namespace}/{name}"
        )
    spec = canary_spec(server_spec(cfg, ws, stable, ab.stable_alias), candidate, ab)
    current = local_server.state(ws)
    same = current is not None and current["spec"] == json.loads(json.dumps(spec))
    if current is not None and same and local_server.answers_as(spec, current["pid"]):
        log.info("the split %s / %s is already served", stable.version, candidate.version)
        return _result(cfg, stable, candidate, {"changed": False, "pid": current["pid"]}, local_endpoint(cfg))
    local_server.check_port(spec, current)
    pid = serve_local.switch(cfg, ws, spec, [stable, candidate])
    if ab.mode == "shadow":
        log.info(
            "serving version %s, with version %s scoring every request in its shadow",
            stable.version,
            candidate.version,
        )
    else:
        log.info(
            "serving version %s with version %s on %.4g%% of requests (%s routing)",
            stable.version,
            candidate.version,
            ab.canary_percent,
            ab.routing,
        )
    return _result(cfg, stable, candidate, {"changed": True, "pid": pid}, local_endpoint(cfg))


def _nothing_to_test(
    cfg: Settings, ws: Workspace, stable: ModelVersion, candidate: ModelVersion | None
) -> str:
    """Why there is no experiment to run ("" when there is one): no candidate, the champion itself, a candidate
    an experiment rejected (until it is retrained, or ab_testing.retry_rejected / --retry-rejected), or one that
    failed to load (until its artifacts change)."""
    from common.serving.versions import failed_to_load

    ab, name = cfg.ab_testing, cfg.training.registered_model
    if candidate is None:
        return f"no version of {name} has the alias {ab.candidate_alias}"
    if candidate.version == stable.version:
        return f"the {ab.candidate_alias} is version {stable.version}, the {ab.stable_alias} itself"
    rejected, rolled_back = candidate.tags.get("rejected"), candidate.tags.get("rolled_back")
    if (rejected or rolled_back) and not ab.retry_rejected:
        why = f"rejected by an experiment ({', '.join(json.loads(rejected))})" if rejected else "rolled back"
        return (
            f"the {ab.candidate_alias}, version {candidate.version}, was {why}: it is not tested again until "
            "it is retrained, or with --retry-rejected (ab_testing.retry_rejected)"
        )
    return failed_to_load(cfg, ws, candidate) or ""


def _result(
    cfg: Settings, stable: ModelVersion, candidate: ModelVersion, done: dict[str, Any], endpoint: str
) -> StepResult:
    ab = cfg.ab_testing
    return StepResult(
        step=STEP,
        outputs={
            **Canary(done.get("url") or endpoint, stable.version, candidate.version).dump(),
            "mode": cfg.serving.mode,
            "ab_mode": ab.mode,
            "canary_percent": ab.canary_percent,
            "routing": ab.routing,
            "pin_header": ab.pin_header,
            **done,
        },
        datasets_read=[stable.model_uri, candidate.model_uri],
        datasets_written=[endpoint],
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or STEP)
    parser.add_argument("--retry-rejected", action="store_true", help=RETRY_HELP)
    args = parser.parse_args(argv)
    if args.retry_rejected:
        args.overrides.append("ab_testing.retry_rejected=true")
    return execute(STEP, USE_CASE, args, lambda cfg, ws: run_step(STEP, run, cfg, ws).to_dict())


if __name__ == "__main__":
    raise SystemExit(main())
