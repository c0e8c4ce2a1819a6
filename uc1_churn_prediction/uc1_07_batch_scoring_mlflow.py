"""Step 07: score every customer of the newest validated data version with the champion (batch.alias), chunk by
chunk (warehouse.chunk_rows): id, churn probability, prediction at its decision threshold, model and data version,
scored-at. Written to the warehouse's batch.table (PostgreSQL by COPY) in one transaction that replaces what an
earlier run wrote for the same data and model version, then as Parquet to the object store
(predictions/<table>/<data version>/v<model version>.parquet)."""

from __future__ import annotations

from common.chain import BATCH as STEP
from common.chain.batch import run
from common.cli import step_script
from uc1_churn_prediction import USE_CASE

ROLE = "batch"  # what shared code asks this step for (common.usecases.step_for)

# the shared chain's step (common/chain/batch.py), also refreshed by UC2, UC3
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
