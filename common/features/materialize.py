"""Materialization that scales with the data: the newest row of each customer in a time window of the offline
source goes to the online store through Feast's own online write (`FeatureStore.write_to_online_store`), a row
group at a time, spread over worker processes; then the window is recorded in the registry, as Feast's
`materialize_incremental` records it (the next run starts where this one ended).

Feast's own materialize reads the window whole and converts it to protobufs in one Python loop (~20 s per 100k
customers here, most of it that loop): by row group, memory holds one group per worker, and the loop runs on
every core."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
IN_PROCESS_ROWS = 50_000  # fewer rows to write: one process (a worker's start costs ~2 s)


def materialize(
    repo: dict[str, Any],
    view: str,
    source: Path,
    keys: tuple[str, str],
    window: tuple[datetime, datetime],
    workers: int = 0,
) -> int:
    """Write the newest row per entity (`keys`: the Feast names of the id and time columns) whose time is in
    `window` (start exclusive, end inclusive) to the online store; returns how many entities were written."""
    from common.features.feast_store import open_store
    from common.progress import progress

    newest = newest_rows(source, keys, window)
    parts = _by_row_group(source, newest)
    workers = workers or os.cpu_count() or 1
    store = open_store(repo)
    with progress("feast materialization", len(newest), "entities") as shown:
        # SQLite takes one writer at a time: workers would wait on its lock
        if len(newest) < IN_PROCESS_ROWS or workers == 1 or repo["online_store"]["type"] == "sqlite":
            for group, rows in parts:
                shown.update(_write(store, view, source, group, rows))
        else:
            _write_in_workers(repo, view, source, parts, workers, shown.update)
    # last: a run killed before this line wrote rows again on its rerun (the newest row wins), never skipped them
    store.registry.apply_materialization(store.get_feature_view(view), store.project, *window)
    return len(newest)


def newest_rows(source: Path, keys: tuple[str, str], window: tuple[datetime, datetime]) -> np.ndarray:
    """The positions (in file order) of the newest row of each entity among the rows inside `window`: what
    Feast's materialize keeps. Reads only the two key columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(source, columns=list(keys))
    ids, times = table.column(keys[0]), table.column(keys[1])
    start, end = (pa.scalar(t, type=times.type) for t in window)
    inside = pc.and_(pc.greater(times, start), pc.less_equal(times, end)).to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(inside)
    if not len(positions):
        return positions
    # sort the rows inside by (id, time); the last of each id's run is its newest
    order = pa.table({"id": ids.take(positions), "t": times.take(positions), "at": positions})
    order = order.sort_by([("id", "ascending"), ("t", "ascending"), ("at", "ascending")])
    sorted_ids = order.column("id").to_numpy(zero_copy_only=False)
    last = np.append(sorted_ids[1:] != sorted_ids[:-1], True)
    return np.sort(order.column("at").to_numpy()[last])


def _by_row_group(source: Path, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(row group, positions inside it) for the groups holding any of `rows`."""
    import numpy as np
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source).metadata
    parts, offset = [], 0
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).num_rows
        lo, hi = np.searchsorted(rows, [offset, offset + size])
        if hi > lo:
            parts.append((group, rows[lo:hi] - offset))
        offset += size
    return parts


def _write(store: Any, view: str, source: Path, group: int, rows: np.ndarray) -> int:
    import pyarrow.parquet as pq

    df = pq.ParquetFile(source).read_row_group(group).take(rows).to_pandas()
    store.write_to_online_store(view, df)
    log.debug("materialized row group %d of %s: %d entities", group, source.name, len(df))
    return len(df)


def _write_in_workers(
    repo: dict[str, Any],
    view: str,
    source: Path,
    parts: list[tuple[int, np.ndarray]],
    workers: int,
    on_done: Callable[[int], None],
) -> None:
    """One task per row group on `workers` spawned processes (not forked: Feast's clients hold sockets);
    `on_done` gets each group's entity count as it finishes."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(parts)), mp_context=spawn) as pool:
        futures = [pool.submit(_worker, repo, view, str(source), group, rows) for group, rows in parts]
        for future in as_completed(futures):
            on_done(future.result())


_STORES: dict[str, Any] = {}  # a worker's store, opened by its first task


def _worker(repo: dict[str, Any], view: str, source: str, group: int, rows: np.ndarray) -> int:
    import json

    from common.features.feast_store import open_store

    key = json.dumps(repo, sort_keys=True)
    if key not in _STORES:
        _STORES[key] = open_store(repo)
    return _write(_STORES[key], view, Path(source), group, rows)
