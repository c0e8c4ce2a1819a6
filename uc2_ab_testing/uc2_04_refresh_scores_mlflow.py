"""Step 04 of UC2: batch scores follow the champion. After a promotion, every customer of the newest validated data
is scored again by the new champion (UC1 step 07's work, recorded under its name); skipped when the scores are
the champion's already (after a rollback, or with nothing to test)."""

from __future__ import annotations

from pathlib import Path

from common.chain.batch import refresh
from common.cli import step_main
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc2_ab_testing import USE_CASE

STEP = Path(__file__).stem


def run(cfg: Settings, ws: Workspace) -> StepResult:
    return refresh(cfg, ws, STEP)


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
