"""UC2 A/B testing: put the challenger beside the champion (01), declare the experiment and start its load (02),
then monitor it and promote or roll back (03), and after a promotion score every customer again by the new
champion (04). Skipped from step 01 on when there is no challenger."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc2_ab_testing import RETRY_HELP, USE_CASE

STEPS = [
    "uc2_01_deploy_canary_kserve",
    "uc2_02_create_experiment_iter8",
    "uc2_03_monitor_experiment",
    "uc2_04_refresh_scores_mlflow",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc2_ab_testing", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or USE_CASE)
    parser.add_argument("--retry-rejected", action="store_true", help=RETRY_HELP)
    args = parser.parse_args(argv)
    if args.retry_rejected:
        args.overrides.append("ab_testing.retry_rejected=true")
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc2_ab_testing"))


if __name__ == "__main__":
    raise SystemExit(main())
