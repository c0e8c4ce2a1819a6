"""Step 01: extract the customers table from the warehouse (PostgreSQL or embedded SQLite) to Parquet in the
object store, chunk by chunk, at raw/<table>_<UTC timestamp>.parquet with a `latest` pointer. The declared parsing
(text ids, text labels, numbers stored as text, no timestamp column) happens here, once; a value it refuses exits 3
naming the column, the count and examples, and nothing is uploaded."""

from __future__ import annotations

from common.chain import EXTRACT as STEP
from common.chain.extract import run
from common.cli import step_script
from uc1_churn_prediction import USE_CASE

ROLE = "extract"  # what shared code asks this step for (common.usecases.step_for)

# the shared chain's step (common/chain/extract.py), also run by UC3
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
