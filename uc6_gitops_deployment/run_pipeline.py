"""UC6 GitOps deployment: the champion promoted through the deployment repo (01: a commit with trailers, pushed),
then the environment synced to it (02: Argo CD's API, or the local model server following the repo)."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc6_gitops_deployment import USE_CASE

STEPS = [
    "uc6_01_promote_model_git",
    "uc6_02_sync_argocd",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc6_gitops_deployment", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or USE_CASE).parse_args(argv)
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(
        f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc6_gitops_deployment")
    )


if __name__ == "__main__":
    raise SystemExit(main())
