"""Step 02: make gitops.environment run what the head of the deployment repo says. With gitops.argocd.url, Argo
CD's API: a hard refresh, a sync to that revision (an operation already running is waited out), then polling until
it runs the revision Synced and Healthy within gitops.timeout_s (the token: ARGOCD_AUTH_TOKEN). Without it, the
local reconciler: the local model server serves the overlay's version, started or replaced through the shared
serving code. Either way, anything short of Synced and Healthy at the revision exits 1 with the last status.

  --rollback  git revert of the environment's last promotion, pushed, then synced; the alias that named the
              reverted version moves back to the version deployed again (with gitops.push: branch, a review
              branch rollback/<model>-v<N>-<env>, not synced)
  --status    what git says is deployed against what runs; changes nothing"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from common.cli import action_parser, execute, run_step
from common.gitops.argocd import SyncFailedError
from common.gitops.rollback import rollback
from common.gitops.sync import status, sync
from common.settings import Settings
from common.step import StepResult
from common.usecases import script_for
from common.workspace import Workspace
from uc6_gitops_deployment import USE_CASE

ROLE = "sync"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc6_gitops_deployment.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    reason = _why_not(cfg)
    if reason:
        return StepResult(step=STEP, outputs={"reason": reason}, status="skipped")
    from common import intent
    from common.gitops.rollback import intent_name

    done = sync(cfg, ws)
    intent.clear(ws, intent_name(cfg.gitops.environment))  # git is served: a pushed rollback is done
    log.info(
        "%s: v%s at %s is %s and %s",
        done["app"],
        done["version"],
        done["revision"][:12],
        done["sync"],
        done["health"],
    )
    return _result(cfg, done)


def _why_not(cfg: Settings) -> str:
    """Why this configuration syncs nothing ("" when it does)."""
    if cfg.gitops.push == "branch":
        return "gitops.push is branch: the promotion waits for review on its branch, nothing is synced"
    if cfg.serving.mode == "kserve" and not cfg.gitops.argocd.url:
        return (
            "serving.mode is kserve and gitops.argocd.url is empty: the local reconciler serves on this machine "
            "only; set gitops.argocd.url, or apply the overlay yourself (kubectl apply -k overlays/<env>)"
        )
    return ""


def run_rollback(cfg: Settings, ws: Workspace, done: dict[str, Any] | None = None) -> StepResult:
    """Revert the last promotion, then sync like run(). `done` keeps the revert across the runner's retries of
    a transient failure after the push, so a retry never reverts a second promotion."""
    from common import intent
    from common.gitops.rollback import follow_in_registry, intent_name

    done, name = ({} if done is None else done), intent_name(cfg.gitops.environment)
    pending = intent.pending(ws, name)
    if "rollback" not in done and pending is not None:  # pushed before a kill: finished, not reverted again
        log.warning("finishing the rollback %s, pushed before a kill, not yet served", pending["commit"][:12])
        if cfg.gitops.push == "direct":
            follow_in_registry(cfg, ws, pending)
        done["rollback"] = pending
    if "rollback" not in done:
        done["rollback"] = rollback(cfg, ws)
    rolled = done["rollback"]
    if cfg.gitops.push == "branch":
        intent.clear(ws, name)
        reason = f"gitops.push is branch: the rollback waits for review on {rolled['ref']}, nothing is synced"
        return StepResult(step=STEP, outputs={"rollback": rolled, "reason": reason}, status="skipped")
    try:
        synced = sync(cfg, ws)
    except SyncFailedError as exc:
        again = f"{STEP}.py without --rollback"
        raise SyncFailedError(
            f"{exc} (the rollback {rolled['commit'][:12]} is pushed: run {again} to sync again)"
        ) from exc
    intent.clear(ws, name)
    return _result(cfg, {**synced, "rollback": rolled})


def _result(cfg: Settings, done: dict[str, Any]) -> StepResult:
    """Read: the overlay at the synced revision and the version it names; written: where it now serves."""
    from common.serving.versions import local_endpoint

    model = cfg.training.registered_model
    namespace = cfg.gitops.namespace_of(cfg.gitops.environment)
    served = f"kserve://{namespace}/{model}" if done["mode"] == "argocd" else local_endpoint(cfg)
    return StepResult(
        step=STEP,
        outputs={**done, "endpoint": served},
        datasets_read=[
            f"git+{done['url']}#{done['overlay']}@{done['revision']}",
            f"models:/{model}/{done['version']}",
        ],
        datasets_written=[served],
    )


def _scores_follow(cfg: Settings, ws: Workspace) -> None:
    """After a rollback the alias names the version deployed again: the batch scores follow it. A failure here
    is a warning, never the rollback's: it is done, and a rerun of --rollback would revert one more promotion."""
    from common.chain.batch import refresh

    try:
        refresh(cfg, ws, STEP)
    except Exception as exc:  # the scores are a follow-on; their failure must not read as a failed rollback
        log.warning(
            "the batch scores were not refreshed after the rollback (%s); run %s",
            exc,
            script_for("batch"),
        )


def main(argv: list[str] | None = None) -> int:
    args = action_parser(
        __doc__ or STEP,
        rollback="revert the last promotion, push, sync",
        status="what git deploys against what runs",
    ).parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        if args.status:
            return {"step": STEP, "status": "ok", "outputs": status(cfg, ws)}
        if not args.rollback:
            return run_step(STEP, run, cfg, ws).to_dict()
        rolled = run_step(STEP, functools.partial(run_rollback, done={}), cfg, ws)
        _scores_follow(cfg, ws)
        return rolled.to_dict()

    return execute(STEP, USE_CASE, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
