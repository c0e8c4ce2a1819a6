"""UC2 A/B testing: put the challenger beside the champion (01), declare the experiment and start its load (02),
then monitor it and promote or roll back (03), and after a promotion score every customer again by the new
champion (04). Skipped from step 01 on when there is no challenger."""

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
