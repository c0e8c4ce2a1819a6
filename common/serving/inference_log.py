"""The model server's inference log (KServe's logger pattern): every scored customer, buffered and written in
batches as Parquet files partitioned by day, under <workspace>/inference-log/ or the object store's
inference-log/ prefix. UC3 compares it with the training data.

A prediction never waits for the log and never fails because of it: `record` only appends to a buffer, and a
background thread writes it on a size or time limit (and `close` at shutdown). A failed write is counted and
logged once; its rows stay buffered for the next try, up to `max_buffered_rows`, past which the oldest are
dropped and counted. A file appears whole or not at all (a hidden temporary name renamed, or one S3 PUT)."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

log = logging.getLogger("common.serving.inference_log")
META = {  # every row's columns besides the model's features
    "ts": "timestamp",
    "model_name": "string",
    "model_version": "string",
    "churn_probability": "float",
    "prediction": "int",
    "latency_ms": "float",
}


def schema(id_column: str, id_type: str, kinds: dict[str, str]) -> Any:
    """The log's Arrow schema: time and version, the id, the model's features (inputs and derived ones), the
    probability, the 0/1 prediction and the request's latency. One schema, so the days read as one table."""
    import pyarrow as pa

    arrow = {
        "timestamp": pa.timestamp("us", tz="UTC"),
        "string": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
    }
    fields = [("ts", arrow["timestamp"]), ("model_name", pa.string()), ("model_version", pa.string())]
    fields.append((id_column, pa.string() if id_type == "str" else pa.int64()))
    fields += [(name, arrow[kind if kind == "string" else "float"]) for name, kind in kinds.items()]
    fields += [(n, arrow[META[n]]) for n in ("churn_probability", "prediction", "latency_ms")]
    return pa.schema(fields)


@cache
def log_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge

    return SimpleNamespace(
        rows=Counter("mlops_inference_log_rows", "Scored customers written to the inference log"),
        failures=Counter("mlops_inference_log_write_failures", "Inference-log writes that failed"),
        dropped=Counter(
            "mlops_inference_log_dropped_rows", "Rows dropped unwritten: the buffer was full after failures"
        ),
        buffered=Gauge("mlops_inference_log_buffered_rows", "Rows waiting to be written"),
    )


class InferenceLog:
    """Buffer scored rows and write them in batches from a background thread."""

    def __init__(
        self,
        sink: Any,
        arrow_schema: Any,
        flush_rows: int = 1000,
        flush_s: float = 10.0,
        max_buffered_rows: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink, self.schema = sink, arrow_schema
        self.flush_rows, self.flush_s, self.max_rows = flush_rows, flush_s, max_buffered_rows
        self.clock = clock
        self.batches: list[dict[str, Any]] = []
        self.buffered = 0
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one flush at a time: the thread's and close()'s
        self.wake = threading.Event()
        self.closed = False
        self.failing = False
        self.seq = 0
        self.token = uuid.uuid4().hex[
            :8
        ]  # two logs in one process (a canary's two versions) never share a name
        self.metrics = log_metrics()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        # not a daemon: at interpreter exit Python waits for it, and it writes what is left first
        self.thread = threading.Thread(target=self._loop, name="inference-log")
        self.thread.start()

    def record(
        self, columns: dict[str, Any], proba: np.ndarray, threshold: float, meta: dict[str, Any]
    ) -> None:
        """Queue one request's rows: the feature columns as scored, its probabilities and the request's
        latency and version (meta). Costs an append; the arrays are not copied (nothing mutates them)."""
        n = len(proba)
        batch = {
            "n": n,
            "columns": columns,
            "proba": proba,
            "threshold": threshold,
            "ts": self.clock(),
            **meta,
        }
        with self.lock:
            self.batches.append(batch)
            self.buffered += n
            dropped = self._over_bound()
            full = self.buffered >= self.flush_rows
        if dropped:
            self._dropped(dropped)
        if (
            full and not self.failing
        ):  # while writes fail, the thread retries on its own clock, not per request
            self.wake.set()

    def flush(self) -> int:
        """Write what is buffered, one file per day of the rows' time; returns the rows written. Rows whose
        write failed stay buffered; rows that cannot be encoded are dropped and counted."""
        with self.write_lock:
            with self.lock:
                batches, self.batches, self.buffered = self.batches, [], 0
            by_day: dict[str, list[dict[str, Any]]] = {}
            for b in batches:
                by_day.setdefault(datetime.fromtimestamp(b["ts"], UTC).strftime("%Y-%m-%d"), []).append(b)
            written, failed, error = 0, [], None
            for day_batches in by_day.values():
                rows = sum(b["n"] for b in day_batches)
                try:
                    data = self._parquet(day_batches)
                except (
                    ValueError,
                    TypeError,
                ) as exc:  # pyarrow's ArrowInvalid/TypeError: retrying cannot help
                    log.error("inference log: %d rows cannot be encoded (%s); dropped", rows, exc)
                    self.metrics.dropped.inc(rows)
                    continue
                try:
                    where = self.sink.write(self._key(day_batches[0]["ts"]), data)
                except Exception as exc:  # any sink error (disk, permissions, S3): counted, never raised
                    failed += day_batches
                    error = exc
                    continue
                written += rows
                self.metrics.rows.inc(rows)
            if error is not None:
                self._failed(failed, error)
            elif self.failing and written:
                log.warning("inference log: writing again (%s); the buffered rows are written", where)
                self.failing = False
            self.metrics.buffered.set(self.buffered)
            return written

    def stop(self) -> None:
        """Ask the thread to write what is left and end. Safe in a signal handler: it takes no lock and does
        not wait (KServe unloads models from its SIGTERM handler, which may interrupt `record`)."""
        self.closed = True
        self.wake.set()

    def close(self) -> int:
        """Stop the thread, wait for it, and write what is left (outside a signal handler)."""
        self.stop()
        if self.thread is not None:
            self.thread.join(timeout=self.flush_s + 30)
        written = self.flush()
        self._lost()
        return written

    def _loop(self) -> None:
        while not self.closed and threading.main_thread().is_alive():
            self.wake.wait(self.flush_s)
            self.wake.clear()
            self.flush()
        self.flush()  # the shutdown's write: the server's last rows
        self._lost()

    def _lost(self) -> None:
        if self.buffered:
            log.error("inference log: %d rows could not be written at shutdown and are lost", self.buffered)
            self.metrics.dropped.inc(self.buffered)
            with self.lock:
                self.batches, self.buffered = [], 0

    def _failed(self, batches: list[dict[str, Any]], exc: Exception) -> None:
        self.metrics.failures.inc()
        rows = sum(b["n"] for b in batches)
        if not self.failing:  # once per run of failures, not once per flush
            log.error(
                "inference log: cannot write %d rows (%s: %s); keeping them for the next try",
                rows,
                type(exc).__name__,
                exc,
            )
            self.failing = True
        with self.lock:
            self.batches = batches + self.batches  # oldest first, as they came
            self.buffered += rows
            dropped = self._over_bound()
        if dropped:
            self._dropped(dropped)

    def _over_bound(self) -> int:
        """Drop the oldest batches past max_buffered_rows (the caller holds the lock); returns the rows."""
        dropped = 0
        while self.buffered > self.max_rows and self.batches:
            gone = self.batches.pop(0)
            self.buffered -= gone["n"]
            dropped += gone["n"]
        return dropped

    def _dropped(self, rows: int) -> None:
        self.metrics.dropped.inc(rows)
        log.error("inference log: buffer over %d rows: dropped the %d oldest, unwritten", self.max_rows, rows)

    def _key(self, first_ts: float) -> str:
        self.seq += 1
        now = datetime.fromtimestamp(first_ts, UTC)
        name = f"part-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{self.token}-{self.seq:06d}.parquet"
        return f"date={now:%Y-%m-%d}/{name}"

    def _parquet(self, batches: list[dict[str, Any]]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict(_columns(batches, self.schema), schema=self.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        return buf.getvalue()


def _columns(batches: list[dict[str, Any]], arrow_schema: Any) -> dict[str, Any]:
    """The batches as one set of columns of the schema's types (flags and counts as float64)."""

    def repeat(key: str) -> np.ndarray:
        return np.concatenate([np.full(b["n"], b[key], dtype=object) for b in batches])

    proba = np.concatenate([b["proba"] for b in batches]).astype("float64")
    cut = np.concatenate([np.full(b["n"], b["threshold"]) for b in batches])
    out: dict[str, Any] = {
        "ts": np.concatenate([np.full(b["n"], int(b["ts"] * 1e6), dtype="int64") for b in batches]).astype(
            "datetime64[us]"
        ),
        "model_name": repeat("model_name"),
        "model_version": repeat("model_version"),
        "churn_probability": proba,
        "prediction": (proba >= cut).astype("int64"),
        "latency_ms": np.concatenate([np.full(b["n"], b["latency_ms"], dtype="float64") for b in batches]),
    }
    for field in arrow_schema:
        if field.name not in out:
            dtype = field.type.to_pandas_dtype()
            # a one-customer request logs lists of one (common.serving.one_row): text stays objects
            kind = object if dtype is np.object_ else None
            values = np.concatenate([np.asarray(b["columns"][field.name], dtype=kind) for b in batches])
            out[field.name] = values if values.dtype == object else values.astype(dtype)
    return out
