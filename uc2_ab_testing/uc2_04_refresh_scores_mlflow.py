"""Step 04 of UC2: batch scores follow the champion. After a promotion, every customer of the newest validated data
is scored again by the new champion (UC1 step 07's work, recorded under its name); skipped when the scores are
the champion's already (after a rollback, or with nothing to test)."""

from __future__ import annotations

from pathlib import Path

from common.chain.batch import refresh_step
from common.cli import step_script
from uc2_ab_testing import USE_CASE

STEP = Path(__file__).stem

run = refresh_step(STEP)
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
