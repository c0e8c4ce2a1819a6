"""UC5 fairness and documentation: how the champion treats groups of customers (01, fairlearn), then its model
card (02) from the registry, the workspace and config. Under fairness.enforce: block a violation stops it (exit 4)."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc5_fairness_docs import USE_CASE

STEPS = [
    "uc5_01_fairness_analysis_fairlearn",
    "uc5_02_generate_model_card",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc5_fairness_docs", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or USE_CASE).parse_args(argv)
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(
        f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc5_fairness_docs")
    )


if __name__ == "__main__":
    raise SystemExit(main())
