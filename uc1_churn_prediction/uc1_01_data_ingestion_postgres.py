"""Step 01: extract the customers table from the warehouse (PostgreSQL or embedded SQLite) to Parquet in the
object store, chunk by chunk, at raw/<table>_<UTC timestamp>.parquet with a `latest` pointer."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from common.cli import step_main
from common.data.object_store import make_store
from common.data.schema import arrow_schema, missing_columns, to_arrow
from common.data.warehouse import is_embedded, make_engine, reaching, safe_url, warehouse_url
from common.errors import DataValidationError
from common.settings import DatasetCfg, Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

STEP = Path(__file__).stem
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    ds = cfg.dataset
    url = warehouse_url(cfg.warehouse, ws)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with ws.scratch(f"{ds.table}.parquet") as tmp:
        rows = _read_warehouse(url, cfg, tmp)
        size, digest = tmp.stat().st_size, _sha256(tmp)
        store = make_store(cfg.object_store, ws)
        key = f"raw/{ds.table}_{stamp}.parquet"
        uri = store.put_file(tmp, key)
    pointer = {"key": key, "uri": uri, "rows": rows, "bytes": size, "sha256": digest, "extracted_at": stamp}
    latest = store.put_bytes(json.dumps(pointer, indent=2).encode(), f"raw/{ds.table}_latest.json")
    log.info("extracted %d rows (%d bytes, sha256 %s) to %s", rows, size, digest[:12], uri)
    source = f"{safe_url(url)}#{ds.table}"
    return StepResult(
        step=STEP,
        outputs={
            "uri": uri,
            "key": key,
            "latest": latest,
            "sha256": digest,
            "source": source,
            "schema": {f.name: str(f.type) for f in arrow_schema(ds)},
        },
        metrics={"rows": rows, "bytes": size},
        datasets_read=[source],
        datasets_written=[uri],
    )


def _read_warehouse(url: str, cfg: Settings, dest: Path) -> int:
    """Seed (embedded only), check and extract the table into `dest`; returns the row count."""
    engine = make_engine(url, cfg.warehouse.connect_timeout_s)
    try:
        with reaching(url):
            if is_embedded(cfg.warehouse):
                _seed_first_run(engine, cfg)
            _check_table(engine, cfg.dataset)
            rows = _extract(engine, cfg.dataset, cfg.warehouse.chunk_rows, dest)
    finally:
        engine.dispose()
    if rows == 0:
        raise DataValidationError(f"table {cfg.dataset.table} is empty: nothing extracted, nothing uploaded")
    return rows


def _seed_first_run(engine: Engine, cfg: Settings) -> None:
    """The embedded warehouse gets generated customers once, on its first run."""
    from sqlalchemy import inspect

    from common.data.sample_data import load

    if not inspect(engine).has_table(cfg.dataset.table):
        log.info(
            "embedded warehouse has no %s table: seeding %d synthetic customers (seed %d)",
            cfg.dataset.table,
            cfg.sample_data.rows,
            cfg.sample_data.seed,
        )
        load(engine, cfg.dataset.table, cfg.sample_data.rows, cfg.sample_data.seed)


def _check_table(engine: Engine, ds: DatasetCfg) -> None:
    from sqlalchemy import inspect

    inspector = inspect(engine)
    if not inspector.has_table(ds.table):
        raise DataValidationError(f"table {ds.table} does not exist in the warehouse")
    missing = missing_columns([c["name"] for c in inspector.get_columns(ds.table)], ds)
    if missing:
        raise DataValidationError(
            f"table {ds.table} lacks the configured columns {missing}: nothing uploaded"
        )


def _extract(engine: Engine, ds: DatasetCfg, chunk_rows: int, dest: Path) -> int:
    """Stream the table in `chunk_rows` chunks (server-side cursor) into one Parquet file; returns rows."""
    import pandas as pd
    import pyarrow.parquet as pq
    from sqlalchemy import column, select, table

    schema = arrow_schema(ds)
    # ORDER BY id: the same table gives the same bytes, so an unchanged table is not a new data version.
    query = (
        select(*[column(c) for c in schema.names]).select_from(table(ds.table)).order_by(column(ds.id_column))
    )
    rows = 0
    with engine.connect() as conn, pq.ParquetWriter(dest, schema, compression="zstd") as writer:
        conn = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        for chunk in pd.read_sql(query, conn, chunksize=chunk_rows):
            writer.write_table(to_arrow(chunk, schema), row_group_size=chunk_rows)
            rows += len(chunk)
            log.info("extracted %d rows", rows)
    return rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
