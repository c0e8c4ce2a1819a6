"""Batch scoring: every customer of a validated data version scored by a registered version, chunk by chunk (memory
does not grow with the table), written to the warehouse's predictions table in one transaction that first removes
what an earlier run wrote for the same data and model version (a rerun replaces, never duplicates), and to Parquet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
ANSWER = ["churn_probability", "prediction", "model_version", "data_version", "scored_at"]


@dataclass(frozen=True)
class Batch:
    """What one batch run scores with, and stamps on each row."""

    model_version: str
    data_version: str
    threshold: float
    scored_at: datetime


def predictions(ids: pd.Series, proba: Any, batch: Batch) -> pd.DataFrame:
    """The rows written for scored customers: id, probability, prediction at the model's threshold, versions, time."""
    import pandas as pd

    return pd.DataFrame(
        {
            ids.name: ids.to_numpy(),
            "churn_probability": proba,
            "prediction": (proba >= batch.threshold).astype("int16"),
            "model_version": batch.model_version,
            "data_version": batch.data_version,
            "scored_at": pd.Timestamp(batch.scored_at),
        }
    )


def score_chunks(
    path: Path, pipeline: Any, cfg: Settings, batch: Batch, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The predictions of the Parquet file at `path`, `chunk_rows` customers at a time."""
    import pyarrow.parquet as pq

    from common.features.engineering import build_features, feature_types
    from common.model.compiled import scorer

    ds = cfg.dataset
    columns = list(feature_types(cfg.features, ds))
    score, kind = scorer(pipeline, columns)
    log.info("scoring %s with model v%s (%s scorer)", path, batch.model_version, kind)
    needed = [ds.id_column, ds.event_time, *ds.numeric, *ds.categorical]
    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=needed):
        frame = record_batch.to_pandas()
        features = build_features(frame, cfg.features, ds)
        yield predictions(frame[ds.id_column], score({c: features[c].to_numpy() for c in columns}), batch)


def parquet_rows(path: Path) -> int:
    """How many rows the Parquet file holds, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def write(
    engine: Engine,
    table: str,
    chunks: Iterable[pd.DataFrame],
    batch: Batch,
    on_chunk: Callable[[pd.DataFrame], None] = lambda chunk: None,
) -> int:
    """Replace the rows of (data version, model version) in `table` by `chunks`, in one transaction; each chunk is
    also handed to `on_chunk` (the Parquet writer). Returns the rows written."""
    from sqlalchemy import delete

    written = 0
    with engine.begin() as conn:
        target: Table | None = None
        for chunk in chunks:
            if target is None:
                target = _table(conn, table, chunk)
                gone = conn.execute(
                    delete(target).where(
                        target.c.data_version == batch.data_version,
                        target.c.model_version == batch.model_version,
                    )
                ).rowcount
                if gone:
                    log.info(
                        "replacing the %d rows an earlier run wrote for %s, v%s",
                        gone,
                        batch.data_version,
                        batch.model_version,
                    )
            _insert(conn, target, chunk)
            on_chunk(chunk)
            written += len(chunk)
            log.debug("scored and wrote %d customers to %s", written, table)  # the caller shows progress
    return written


def _table(conn: Connection, name: str, first: pd.DataFrame) -> Table:
    """The predictions table (created on first use) with an index on the key a rerun replaces by."""
    import pandas as pd
    from sqlalchemy import BigInteger, Column, DateTime, Float, Index, MetaData, SmallInteger, String, Table

    id_name = first.columns[0]
    id_type = BigInteger() if pd.api.types.is_integer_dtype(first[id_name]) else String()
    table = Table(
        name,
        MetaData(),
        Column(id_name, id_type, nullable=False),
        Column("churn_probability", Float(), nullable=False),
        Column("prediction", SmallInteger(), nullable=False),
        Column("model_version", String(), nullable=False),
        Column("data_version", String(), nullable=False),
        Column("scored_at", DateTime(timezone=True), nullable=False),
    )
    table.create(conn, checkfirst=True)
    Index(f"ix_{name}_versions", table.c.data_version, table.c.model_version).create(conn, checkfirst=True)
    return table


def _insert(conn: Connection, table: Table, chunk: pd.DataFrame) -> None:
    """PostgreSQL through psycopg 3 gets COPY; any other database or driver an executemany insert."""
    from common.data.warehouse import copy_frame

    if conn.dialect.driver == "psycopg":
        copy_frame(conn, table.name, chunk)
    else:
        conn.execute(table.insert(), chunk.to_dict("records"))


@contextlib.contextmanager
def parquet_sink(path: Path) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function that appends chunks to one Parquet file at `path` (its schema is the first chunk's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None

    def append(chunk: pd.DataFrame) -> None:
        nonlocal writer
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)

    try:
        yield append
    finally:
        if writer is not None:
            writer.close()
