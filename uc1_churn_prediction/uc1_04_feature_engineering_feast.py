"""Step 04: derive the features declared in config from the validated data, write them as the Feast offline
source (Parquet), apply the feature_repo declarations and materialize incrementally to the online store
(SQLite by default, Redis by `features.online_store: redis`)."""

from __future__ import annotations

from common.chain import FEATURES as STEP
from common.chain.features import run
from common.cli import step_script
from uc1_churn_prediction import USE_CASE

ROLE = "features"  # what shared code asks this step for (common.usecases.step_for)

# the shared chain's step (common/chain/features.py), also run by UC3
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
