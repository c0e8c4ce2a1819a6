"""Step 01: promote the champion (--version N or --alias NAME for another) through git. Its InferenceService is
rendered with KServe's defaults written out, into a kustomize base and the overlay of gitops.environment (default
staging), beside an Argo CD Application for that environment; then committed with GitPython, with trailers that
say what is deployed and why (Model-Name, Model-Version, MLflow-Run-Id, Data-Version, Gate), and pushed to
gitops.repo_url (default: a bare repo in the workspace). Promoting what the overlay already deploys makes no commit.
A push that lost a race is rebuilt on the new head and retried. A version the gate did not pass, or that holds
neither the champion nor the challenger alias, is refused (exit 2). gitops.push: branch pushes
promote/<model>-v<N>-<env> for review instead, and the sync leaves it alone."""

from __future__ import annotations

import logging
from pathlib import Path

from common.cli import version_step_main
from common.gitops.layout import overlay_path
from common.gitops.promote import promote, release_for
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc6_gitops_deployment import USE_CASE

ROLE = "promote"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc6_gitops_deployment.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    env = cfg.gitops.environment
    release, gate = release_for(cfg, ws, cfg.gitops.version or cfg.gitops.alias)
    done = promote(cfg, ws, release, gate)
    log.info(
        "%s v%s %s %s at %s (%s)",
        release.model,
        release.version,
        "promoted to" if done["changed"] else "was already deployed to",
        env,
        (done["commit"] or "")[:12],
        done["ref"],
    )
    return StepResult(
        step=STEP,
        outputs={
            "model_name": release.model,
            "version": release.version,
            "alias": release.alias,
            "environment": env,
            "push": cfg.gitops.push,
            **done,
        },
        datasets_read=[f"models:/{release.model}/{release.version}"],
        datasets_written=[f"git+{done['url']}#{overlay_path(env)}@{done['commit']}"],
    )


def main(argv: list[str] | None = None) -> int:
    return version_step_main(STEP, USE_CASE, run, argv, __doc__ or STEP, "gitops")


if __name__ == "__main__":
    raise SystemExit(main())
