"""The chain's extract step (UC1 step 01): extract the customers table from the warehouse (PostgreSQL or embedded
SQLite) to Parquet in the object store, chunk by chunk, at raw/<table>_<UTC timestamp>.parquet with a `latest`
pointer. The declared parsing (text ids, text labels, numbers stored as text, no timestamp column) happens here,
once; a value it refuses exits 3 naming the column, the count and examples, and nothing is uploaded.

An extract is known by its content, not by when it was made: when the table holds the same rows as the newest
extract (the extraction stamp of a table without a time column aside), that extract stands, nothing is uploaded,
and the next step finds the same data version."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.chain import EXTRACT
from common.chain.records import Extracted
from common.data.object_store import ObjectStore, make_store
from common.data.schema import (
    Cast,
    IdType,
    arrow_schema,
    extract_query,
    missing_columns,
    parquet_facts,
    resolve_id_type,
)
from common.data.warehouse import is_embedded, make_engine, reaching, safe_url, warehouse_url
from common.errors import DataValidationError
from common.settings import DatasetCfg, Settings
from common.step import StepResult
from common.workspace import Workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

STEP = EXTRACT
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    ds = cfg.dataset
    url = warehouse_url(cfg.warehouse, ws)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    store = make_store(cfg.object_store, ws)
    latest_key = f"raw/{ds.table}_latest.json"
    with ws.scratch(f"{ds.table}.parquet") as tmp:
        rows, cast = _read_warehouse(url, cfg, tmp, now)
        facts = parquet_facts(tmp)
        content = content_digest(tmp, None if ds.timestamp else ds.event_time)
        pointer = _unchanged(store, latest_key, content)
        if pointer is None:
            new = {"rows": rows, "extracted_at": stamp, "content": content, "parsing": cast.report()}
            pointer = _put(store, tmp, f"raw/{ds.table}_{stamp}.parquet", latest_key, new)
        else:
            log.info(
                "table %s unchanged since the extract of %s (content %s): it stands, nothing uploaded",
                ds.table,
                pointer["extracted_at"],
                content[:12],
            )
    if pointer["parsing"]:
        log.info("parsing: %s", json.dumps(pointer["parsing"]))
    source = f"{safe_url(url)}#{ds.table}"
    uri = pointer["uri"]
    return StepResult(
        step=STEP,
        outputs={
            **Extracted(uri=uri, key=pointer["key"], sha256=pointer["sha256"], source=source).dump(),
            "latest": store.uri(latest_key),
            "content": content,
            "unchanged": pointer["extracted_at"] != stamp,
            "extracted_at": pointer["extracted_at"],
            "schema": {f.name: str(f.type) for f in cast.schema},
            "id_type": cast.id_type,
            "parsing": pointer["parsing"],
        },
        metrics={"rows": rows, "bytes": pointer["bytes"]},
        datasets_read=[source],
        datasets_written=[uri],
        facts={
            source: {"schema": [c for c in facts["schema"] if c["name"] in ds.source_columns]},
            uri: facts,
        },
    )


def _put(store: ObjectStore, tmp: Path, key: str, latest_key: str, pointer: dict[str, Any]) -> dict[str, Any]:
    """Upload a new extract, then point `latest` at it; returns the pointer."""
    size, digest = tmp.stat().st_size, file_sha256(tmp)
    pointer = {"key": key, "uri": store.put_file(tmp, key), "bytes": size, "sha256": digest, **pointer}
    store.put_bytes(json.dumps(pointer, indent=2).encode(), latest_key)
    log.info(
        "extracted %d rows (%d bytes, sha256 %s) to %s", pointer["rows"], size, digest[:12], pointer["uri"]
    )
    return pointer


def _unchanged(store: ObjectStore, latest_key: str, content: str) -> dict[str, Any] | None:
    """The newest extract's pointer when it holds the same rows (and its file is still in the store)."""
    if not store.exists(latest_key):
        return None
    try:
        pointer = json.loads(store.get_bytes(latest_key))
    except ValueError:  # a pointer a killed run tore: the new extract replaces it
        return None
    if pointer.get("content") != content or not store.exists(pointer["key"]):
        return None
    return pointer


def content_digest(path: Path, stamp_column: str | None) -> str:
    """sha256 of an extract's schema and of every column's Parquet bytes but the extraction stamp's: two
    extracts of the same rows have the same digest whenever they were made. (The writer is deterministic: the
    same rows, schema and row groups give the same column chunks.)"""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    digest = hashlib.sha256(str(meta.schema.to_arrow_schema().remove_metadata()).encode())
    with path.open("rb") as fh:
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                if column.path_in_schema == stamp_column:
                    continue
                starts = [column.data_page_offset]
                if column.has_dictionary_page and column.dictionary_page_offset:
                    starts.append(column.dictionary_page_offset)
                fh.seek(min(starts))
                digest.update(fh.read(column.total_compressed_size))
    return digest.hexdigest()


def _read_warehouse(url: str, cfg: Settings, dest: Path, now: datetime) -> tuple[int, Cast]:
    """Seed (embedded only), check and extract the table into `dest`; returns the row count and the cast."""
    ds = cfg.dataset
    engine = make_engine(url, cfg.warehouse.connect_timeout_s)
    try:
        with reaching(url):
            if is_embedded(cfg.warehouse) and cfg.sample_data.enabled:
                _seed_first_run(engine, cfg)
            id_type = _check_table(engine, ds)
            cast = Cast(ds, arrow_schema(ds, id_type), now)
            rows = _extract(engine, ds, cast, cfg.warehouse.chunk_rows, dest)
    finally:
        engine.dispose()
    if rows == 0:
        raise DataValidationError(f"table {ds.table} is empty: nothing extracted, nothing uploaded")
    problems = cast.problems()
    if problems:
        raise DataValidationError(
            f"table {ds.table}: {len(problems)} column(s) failed parsing; nothing uploaded:\n  - "
            + "\n  - ".join(problems)
        )
    return rows, cast


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
        load(engine, cfg.dataset.table, cfg.sample_data.rows, cfg.sample_data.seed, bias=cfg.sample_data.bias)


def _check_table(engine: Engine, ds: DatasetCfg) -> IdType:
    """The table exists with every configured column; returns the id type (dataset.id_type, auto resolved)."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    if not inspector.has_table(ds.table):
        raise DataValidationError(
            f"table {ds.table} does not exist in the warehouse {engine.url.render_as_string(hide_password=True)}"
        )
    found = {c["name"]: c["type"] for c in inspector.get_columns(ds.table)}
    missing = missing_columns(list(found), ds)
    if missing:
        folded = {name.casefold(): name for name in found}
        near = {m: folded[m.casefold()] for m in missing if m.casefold() in folded}
        hint = f" (names are case-sensitive; the table has {near})" if near else ""
        raise DataValidationError(
            f"table {ds.table} lacks the configured columns {missing}{hint}: nothing uploaded"
        )
    return resolve_id_type(ds, found[ds.id_column])


def _extract(engine: Engine, ds: DatasetCfg, cast: Cast, chunk_rows: int, dest: Path) -> int:
    """Stream the table in `chunk_rows` chunks (server-side cursor) into one Parquet file; returns rows."""
    import pandas as pd
    import pyarrow.parquet as pq

    rows = 0
    with engine.connect() as conn, pq.ParquetWriter(dest, cast.schema, compression="zstd") as writer:
        conn = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        for chunk in pd.read_sql(extract_query(ds), conn, chunksize=chunk_rows):
            writer.write_table(cast.table(chunk), row_group_size=chunk_rows)
            rows += len(chunk)
            log.info("extracted %d rows", rows)
        if cast.report():  # the parsing counts travel with the data version; none: the bytes of before
            writer.add_key_value_metadata(cast.metadata())
    return rows


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
