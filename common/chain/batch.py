"""The chain's batch step (UC1 step 07): score every customer of the newest validated data version with the champion
(batch.alias), chunk by chunk (warehouse.chunk_rows): id, churn probability, prediction at its decision threshold,
model and data version, scored-at. Written to the warehouse's batch.table (PostgreSQL by COPY) in one transaction
that replaces what an earlier run wrote for the same data and model version, then as Parquet to the object store
(predictions/<table>/<data version>/v<model version>.parquet).

Scores follow the champion: `refresh` scores again when the newest scores are by another version than the one
batch.alias names (after UC2's promotion, UC3's promoting retrain or UC6's rollback), or of an older data version
than the newest validated one (after UC3's retrain extracted new data), recorded under step 07's name."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common.chain import BATCH, LOCK, VALIDATE
from common.chain.records import Scored, Validated
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace

STEP = BATCH
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    import mlflow

    from common.data.object_store import make_store
    from common.data.warehouse import make_engine, reaching, safe_url, warehouse_url
    from common.model.batch import Batch, parquet_rows, parquet_sink, score_chunks, write
    from common.model.tracking import tracking_uri, use
    from common.model.version import require
    from common.progress import track

    target = require(cfg, ws, cfg.batch.alias)
    validated = ws.require(VALIDATE, f"batch scoring needs validated data: run {VALIDATE}.py first")
    data = Validated.of(validated)
    batch = Batch(target.version, data.tag, target.threshold, datetime.now(UTC))
    use(tracking_uri(cfg, ws))
    pipeline = mlflow.sklearn.load_model(target.model_uri)
    url, table = warehouse_url(cfg.warehouse, ws), cfg.batch.table
    chunks = track(
        score_chunks(Path(data.path), pipeline, cfg, batch, cfg.warehouse.chunk_rows),
        "batch scoring",
        parquet_rows(Path(data.path)),
        "rows",
        size=len,
    )
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
            **Scored(batch.model_version, batch.data_version).dump(),
            "table": table,
            "parquet": stored,
            "scored_at": batch.scored_at.isoformat(),
        },
        metrics={"rows": rows},
        datasets_read=[*validated.datasets_read, target.model_uri],
        datasets_written=[f"{safe_url(url)}#{table}", stored],
    )


def refresh_step(step: str) -> Callable[[Settings, Workspace], StepResult]:
    """The run() of a use case's step `step` that refreshes the batch scores (UC2's and UC3's, after a new
    champion)."""

    def run(cfg: Settings, ws: Workspace) -> StepResult:
        return refresh(cfg, ws, step)

    return run


def refresh(cfg: Settings, ws: Workspace, step: str) -> StepResult:
    """`step`'s result: the batch scores made again by the version batch.alias names, when the newest ones are
    another version's or older data's; skipped, saying so, when they are that version's of the newest data. It
    holds UC1's lock (step 07 writes the same rows) and leaves retries to `step`'s own runner."""
    from common.cli import run_step
    from common.lock import run_lock
    from common.model.version import find

    scored, validated = ws.result(BATCH), ws.result(VALIDATE)
    target = find(cfg, ws, cfg.batch.alias)
    if scored is None or validated is None or target is None:
        reason = f"no batch scores to refresh yet ({BATCH}.py makes the first)"
        return StepResult(step=step, status="skipped", outputs={"reason": reason})
    last = Scored.of(scored)
    was, now = (str(last.model_version), last.data_version), (target.version, Validated.of(validated).tag)
    if scored.status == "ok" and was == now:
        reason = f"the scores of {now[1]} are by version {now[0]} ({cfg.batch.alias}) already"
        return StepResult(step=step, status="skipped", outputs={"reason": reason})
    log.info(
        "the scores of %s by version %s are stale: %s is version %s", was[1], was[0], cfg.batch.alias, now[0]
    )
    once = cfg.model_copy(update={"retry": cfg.retry.model_copy(update={"attempts": 1})})
    with run_lock(ws.dir("locks"), LOCK):
        done = run_step(BATCH, run, once, ws)
    return StepResult(
        step=step,
        outputs={**done.outputs, "refreshed": True, "stale_model_version": was[0]},
        metrics=done.metrics,
    )
