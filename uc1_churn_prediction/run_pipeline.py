"""UC1 churn prediction: run the steps in order in one process (01 extract, 02 version, 03 validate,
04 features, 05 train + gate, 06 serve, 07 batch scores), each with transient-only retries; the first permanent
failure stops the pipeline and sets the exit code."""

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
