"""The inference log without a server: size and shutdown flushes, whole files, and a sink that fails (counted,
kept, then written; or dropped and counted past the bound)."""

import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from common.serving.inference_log import InferenceLog, log_metrics, schema
from common.serving.log_sinks import FolderSink

KINDS = {"age": "float", "gender": "string", "is_high_value": "int"}
SCHEMA = schema("customer_id", "int", KINDS)


def _record(log: InferenceLog, first: int, n: int) -> None:
    columns = {
        "customer_id": np.arange(first, first + n, dtype="int64"),
        "age": np.full(n, 40.0),
        "gender": np.array(["Female"] * n, dtype=object),
        "is_high_value": np.ones(n, dtype="int64"),
    }
    meta = {"model_name": "churn-predictor", "model_version": "3", "latency_ms": 1.5}
    log.record(columns, np.linspace(0.1, 0.9, n), 0.5, meta)


def _rows(root: Path) -> list[int]:
    files = sorted(root.rglob("part-*.parquet"))
    return sorted(i for f in files for i in pq.read_table(f)["customer_id"].to_pylist())


def _metric(name: str) -> float:
    return getattr(log_metrics(), name)._value.get()


def test_rows_are_written_whole_by_day_on_size_and_at_close(tmp_path: Path) -> None:
    log = InferenceLog(FolderSink(tmp_path), SCHEMA, flush_rows=10, flush_s=60)
    log.start()
    _record(log, 0, 6)
    _record(log, 6, 6)  # 12 >= 10: the thread writes without waiting for flush_s
    deadline = time.monotonic() + 5
    while not _rows(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows(tmp_path) == list(range(12))
    _record(log, 12, 3)
    log.close()  # the thread's last write
    assert _rows(tmp_path) == list(range(15)) and log.thread is not None and not log.thread.is_alive()
    files = list(tmp_path.glob("date=*/part-*.parquet"))
    table = pq.read_table(files[0])
    assert table.schema.equals(SCHEMA)
    row = table.slice(0, 1).to_pylist()[0]
    assert row["model_version"] == "3" and row["prediction"] == 0 and row["latency_ms"] == 1.5
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")] == []  # no temporary left


def test_a_failing_sink_is_counted_keeps_the_rows_and_writes_them_later(tmp_path: Path) -> None:
    blocked = tmp_path / "log"
    blocked.write_text("a file where the folder should be")  # every write fails: not a directory
    log = InferenceLog(FolderSink(blocked), SCHEMA, flush_rows=1000, flush_s=60, max_buffered_rows=100)
    failures = _metric("failures")
    _record(log, 0, 30)
    assert log.flush() == 0 and log.flush() == 0
    assert _metric("failures") == failures + 2 and log.buffered == 30
    blocked.unlink()  # the disk is back
    _record(log, 30, 5)
    assert log.flush() == 35
    assert _rows(blocked) == list(range(35)) and log.buffered == 0


def test_rows_of_two_days_go_to_two_days(tmp_path: Path) -> None:
    """A flush after midnight (or after an outage) writes each row under its own day, where a window finds it."""
    times = iter([1_767_225_599.0, 1_767_225_601.0])  # 2025-12-31T23:59:59Z, 2026-01-01T00:00:01Z
    log = InferenceLog(FolderSink(tmp_path), SCHEMA, flush_rows=1000, flush_s=60, clock=lambda: next(times))
    _record(log, 0, 2)
    _record(log, 2, 2)
    assert log.flush() == 4
    days = {p.parent.name: _rows(p.parent) for p in tmp_path.rglob("part-*.parquet")}
    assert days == {"date=2025-12-31": [0, 1], "date=2026-01-01": [2, 3]}


def test_stop_takes_no_lock_so_a_signal_during_record_cannot_hang_the_server(tmp_path: Path) -> None:
    log = InferenceLog(FolderSink(tmp_path), SCHEMA, flush_rows=1000, flush_s=60)
    log.start()
    _record(log, 0, 4)
    with log.lock:  # as if SIGTERM arrived while a request held the lock
        log.stop()
    assert log.thread is not None
    log.thread.join(timeout=10)
    assert not log.thread.is_alive() and _rows(tmp_path) == [0, 1, 2, 3]


def test_past_the_bound_the_oldest_rows_are_dropped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "log"
    blocked.write_text("not a folder")
    log = InferenceLog(FolderSink(blocked), SCHEMA, flush_rows=1000, flush_s=60, max_buffered_rows=50)
    dropped = _metric("dropped")
    for first in range(0, 80, 20):
        _record(log, first, 20)
        log.flush()
    assert _metric("dropped") == dropped + 40 and log.buffered == 40
    assert "dropped the 20 oldest, unwritten" in caplog.text
    assert caplog.text.count("cannot write") == 1  # logged once per run of failures, counted every time
    blocked.unlink()
    log.close()
    assert _rows(blocked) == list(range(40, 80))  # the newest rows survived
