"""Step 07: score every customer of the newest validated data version with the champion (batch.alias), chunk by
chunk (warehouse.chunk_rows): id, churn probability, prediction at its decision threshold, model and data version,
scored-at. Written to the warehouse's batch.table (PostgreSQL by COPY) in one transaction that replaces what an
earlier run wrote for the same data and model version, then as Parquet to the object store
(predictions/<table>/<data version>/v<model version>.parquet)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from common.chain import VALIDATE
from common.cli import step_main
from common.errors import MissingInputError
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

STEP = Path(__file__).stem
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    import mlflow

    from common.data.object_store import make_store
    from common.data.warehouse import make_engine, reaching, safe_url, warehouse_url
    from common.model.batch import Batch, parquet_sink, score_chunks, write
    from common.model.registry import tracking_uri
    from common.serving.versions import by_alias

    target = by_alias(cfg, ws, cfg.batch.alias)
    if target is None:
        raise MissingInputError(
            f"no version of {cfg.training.registered_model} has the alias {cfg.batch.alias}"
        )
    validated = ws.require(VALIDATE, f"batch scoring needs validated data: run {VALIDATE}.py first")
    batch = Batch(target["version"], validated.outputs["tag"], target["threshold"], datetime.now(UTC))
    mlflow.set_tracking_uri(tracking_uri(cfg, ws))
    pipeline = mlflow.sklearn.load_model(target["model_uri"])
    url, table = warehouse_url(cfg.warehouse, ws), cfg.batch.table
    chunks = score_chunks(Path(validated.outputs["path"]), pipeline, cfg, batch, cfg.warehouse.chunk_rows)
    key = f"predictions/{table}/{batch.data_version}/v{batch.model_version}.parquet"
    with ws.scratch("predictions.parquet") as tmp:
        with parquet_sink(tmp) as on_chunk, reaching(url):
            rows = write(make_engine(url, cfg.warehouse.connect_timeout_s), table, chunks, batch, on_chunk)
        stored = make_store(cfg.object_store, ws).put_file(tmp, key)  # after the warehouse committed
    log.info(
        "scored %d customers with v%s on %s: %s and %s",
        rows,
        batch.model_version,
        batch.data_version,
        table,
        stored,
    )
    return StepResult(
        step=STEP,
        outputs={
            "table": table,
            "parquet": stored,
            "model_version": batch.model_version,
            "data_version": batch.data_version,
            "scored_at": batch.scored_at.isoformat(),
        },
        metrics={"rows": rows},
        datasets_read=[*validated.datasets_read, target["model_uri"]],
        datasets_written=[f"{safe_url(url)}#{table}", stored],
    )


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
