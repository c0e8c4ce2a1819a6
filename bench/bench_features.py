"""Benchmark Feast materialization (step 04's core): BENCH_FEATURE_ROWS (default 100,000) customers' features
materialized into the SQLite online store, and into Redis when it is reachable, by step 04's batched writer
(common/features/materialize.py: row groups through Feast's online write, a worker process per core) and, the
anchor, by Feast's own `materialize_incremental` on the same source in another project. Target: at most 15 s, and
the batched writer no slower than the anchor (`ratio` <= 1). Also the p50 / p95 of a single-customer online read.
Everything lives in a temporary directory; the Redis keys of the throwaway projects are removed at the end.

    BENCH_FEATURE_ROWS=20000 .venv/bin/python bench/bench_features.py
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import entry, report

from common.cli import stdout_to_stderr
from common.config import load_config
from common.data.sample_data import generate
from common.telemetry import disable_telemetry
from common.workspace import Workspace

log = logging.getLogger("bench.features")
TARGET_S = 15


def bench_store(tmp: Path, rows: int, online: str, how: str) -> dict[str, Any]:
    import numpy as np

    from common.chain.features import GROUP_ROWS
    from common.features.engineering import build_features
    from common.features.feast_store import offline_source, open_store, repo_config
    from common.features.materialize import materialize
    from feature_repo.definitions import declare

    cfg = load_config(
        overrides=[
            f"workspace={tmp / online / how}",
            f"features.online_store={online}",
            f"features.project=bench{uuid.uuid4().hex[:8]}",
        ]
    )
    ws = Workspace(cfg.workspace)
    source = offline_source(cfg, ws)
    features = build_features(generate(rows, seed=42), cfg.features, cfg.dataset)
    features.to_parquet(source, index=False, row_group_size=GROUP_ROWS)  # as step 04 writes it
    store = open_store(repo_config(cfg, ws))
    try:
        store.apply(declare(cfg.features, cfg.dataset, str(source), "int"))
        view = store.get_feature_view(cfg.features.feature_view)
        window = (datetime.now(UTC) - view.ttl, datetime.now(UTC))
        start = time.perf_counter()
        with stdout_to_stderr():  # Feast prints its progress; stdout is for the one JSON line
            if how == "batched":
                keys = (cfg.dataset.id_column, cfg.dataset.event_time)
                materialize(repo_config(cfg, ws), cfg.features.feature_view, source, keys, window)
            else:
                store.materialize_incremental(end_date=window[1])
        seconds = time.perf_counter() - start
        service = store.get_feature_service(cfg.features.feature_service)
        reads = []
        for customer in np.random.default_rng(0).integers(1, rows + 1, 200):
            t0 = time.perf_counter()
            store.get_online_features(features=service, entity_rows=[{"customer_id": int(customer)}])
            reads.append((time.perf_counter() - t0) * 1000)
        return {
            "materialize_s": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
            "read_p50_ms": round(float(np.percentile(reads, 50)), 2),
            "read_p95_ms": round(float(np.percentile(reads, 95)), 2),
        }
    finally:
        if online == "redis":
            store.teardown()


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    rows = int(os.environ.get("BENCH_FEATURE_ROWS", "100000"))
    figures: dict[str, Any] = {"bench": "features", "rows": rows, "target_s": TARGET_S}
    tmp = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        for online in ("sqlite", "redis") if _redis_up() else ("sqlite",):
            for how in ("batched", "feast_materialize"):
                log.info("materializing %d customers into %s (%s)", rows, online, how)
                figures.update(
                    {f"{online}_{how}_{k}": v for k, v in bench_store(tmp, rows, online, how).items()}
                )
            ratio = (
                figures[f"{online}_batched_materialize_s"]
                / figures[f"{online}_feast_materialize_materialize_s"]
            )
            figures[f"{online}_ratio"] = round(ratio, 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(figures)


if __name__ == "__main__":
    entry(main)
