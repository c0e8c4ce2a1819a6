"""Step 03: validate the versioned data with a Great Expectations suite built from config; the result JSON and
Data Docs land under <workspace>/reports/, with what step 01's declared parsing did (counts before and after).
Failure exits 3 listing each failed expectation; nothing after it runs."""

from __future__ import annotations

from common.chain import VALIDATE as STEP
from common.chain.validate import run
from common.cli import step_script
from uc1_churn_prediction import USE_CASE

ROLE = "validate"  # what shared code asks this step for (common.usecases.step_for)

# the shared chain's step (common/chain/validate.py), also run by UC3
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
