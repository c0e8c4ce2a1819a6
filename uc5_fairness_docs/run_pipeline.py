"""UC5 fairness and documentation: how the champion treats groups of customers (01, fairlearn), then its model
card (02) from the registry, the workspace and config. Under fairness.enforce: block a violation stops it (exit 4)."""

from __future__ import annotations

from pathlib import Path

from common.pipeline import Outcome, pipeline_main, run_use_case
from common.settings import Settings
from common.workspace import Workspace

FOLDER = Path(__file__).resolve().parent  # its steps are found there (common.usecases)


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_use_case(FOLDER, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    return pipeline_main(FOLDER, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
