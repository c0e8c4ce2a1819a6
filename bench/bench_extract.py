"""Benchmark step 01: extract BENCH_ROWS (default 1,000,000) customers to Parquet in the object store.

Targets: at most 60 s and a peak RSS of at most 1.5 GB, from PostgreSQL and from the embedded SQLite
warehouse. Each backend is extracted by the step script itself in a fresh subprocess, so the peak RSS is
the extraction's own (os.wait4 gives that child's rusage). Reported per backend: wall time of the child
(with interpreter start-up), the step's own duration_s, peak RSS, rows and bytes from the step's JSON
summary. Loading the data is not timed. Everything is written in a temporary directory and a throwaway
PostgreSQL database (server: BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432), both
removed at the end.

Unchanged data: step 01 then runs again on the same table, which must find the extract unchanged (its content
digest, every column's Parquet bytes but a stamp's) and upload nothing: `again_step_s` is that second run. The
digest's own cost is timed against the sha256 of the same file (the anchor the step already pays): `digest_ratio`.

    BENCH_ROWS=20000 .venv/bin/python bench/bench_extract.py
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import customers_database, run_measured

from common.config import load_config
from common.data.sample_data import load
from common.data.warehouse import make_engine
from common.telemetry import disable_telemetry

log = logging.getLogger("bench.extract")
STEP = "uc1_churn_prediction/uc1_01_data_ingestion_postgres.py"
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TARGET_S, TARGET_RSS_MB = 60, 1536


def run_step(workspace: Path, warehouse_url: str) -> dict[str, Any]:
    """Run step 01 in a fresh interpreter; its wall time, peak RSS, rows and bytes."""
    sets = [f"warehouse.url={warehouse_url}", "object_store.backend=local"]
    done = run_measured(STEP, workspace, sets)
    summary = done["summary"]
    again = run_measured(STEP, workspace, sets)["summary"]
    if not again["outputs"]["unchanged"] or again["outputs"]["key"] != summary["outputs"]["key"]:
        raise RuntimeError(f"an unchanged table was extracted anew: {again['outputs']['key']}")
    return {
        "wall_s": done["wall_s"],
        "step_s": summary["duration_s"],
        "peak_rss_mb": done["peak_rss_mb"],
        "rows": summary["metrics"]["rows"],
        "bytes": summary["metrics"]["bytes"],
        "again_step_s": again["duration_s"],
        **digest_cost(Path(summary["outputs"]["uri"].removeprefix("file://"))),
    }


def digest_cost(path: Path) -> dict[str, float]:
    """The content digest's time on the extract, against the file's sha256 in the same process."""
    import time

    from common.chain.extract import content_digest, file_sha256

    start = time.perf_counter()
    file_sha256(path)
    anchor = time.perf_counter() - start
    start = time.perf_counter()
    content_digest(path, None)
    took = time.perf_counter() - start
    return {"digest_s": round(took, 3), "sha256_s": round(anchor, 3), "digest_ratio": round(took / anchor, 2)}


def bench_postgres(tmp: Path, table: str, rows: int) -> dict[str, Any]:
    """Load `rows` customers into a new database, extract them, drop the database whatever happens."""
    with customers_database(PG_SERVER, table, rows, "bench_mlops") as url:
        workspace = tmp / "postgres"
        workspace.mkdir()
        return run_step(workspace, url)


def bench_sqlite(tmp: Path, table: str, rows: int) -> dict[str, Any]:
    """Pre-load the embedded warehouse file, so the step extracts it instead of seeding its small default."""
    workspace = tmp / "sqlite"
    (workspace / "warehouse").mkdir(parents=True)
    engine = make_engine(f"sqlite:///{workspace / 'warehouse' / 'warehouse.db'}")
    try:
        load(engine, table, rows, seed=42)
    finally:
        engine.dispose()
    return run_step(workspace, "")  # an empty URL is the embedded default


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    table = load_config().dataset.table
    figures: dict[str, Any] = {"bench": "extract", "rows": rows}
    figures.update(target_s=TARGET_S, target_rss_mb=TARGET_RSS_MB)
    tmp = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    code = 0
    try:
        for backend, fn in (("postgres", bench_postgres), ("sqlite", bench_sqlite)):
            log.info("%s: loading %d customers, then extracting", backend, rows)
            try:
                result = fn(tmp, table, rows)
            except Exception as exc:  # report the failure in the figures, go on with the other backend
                log.error("%s failed: %s", backend, exc, exc_info=exc)
                figures[f"{backend}_error"] = str(exc)
                code = 1
                continue
            figures.update({f"{backend}_{k}": v for k, v in result.items()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
