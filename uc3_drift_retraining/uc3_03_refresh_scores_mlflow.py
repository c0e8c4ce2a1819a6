"""Step 03 of UC3: batch scores follow the champion and the newest data. After a retrain, every customer of the
newest validated data is scored by the champion: the retrained version when it took the alias
(drift.retrain_promotes: true), else the champion as before, on the data the retrain extracted (UC1 step 07's
work, recorded under its name). Skipped when the newest scores are the champion's of the newest data already."""

from __future__ import annotations

from pathlib import Path

from common.chain.batch import refresh_step
from common.cli import step_script
from uc3_drift_retraining import USE_CASE

STEP = Path(__file__).stem

run = refresh_step(STEP)
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
