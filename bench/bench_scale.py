"""Benchmark the whole lifecycle at telco size: `run_all.py` on N customers in PostgreSQL with the Redis online
store, in a fresh workspace, for N = 100,000 and 1,000,000. Targets at 1M: at most 600 s wall and 4 GB peak RSS;
the anchor is the same run at 100k in the same bench: 10x the rows cost at most 10x the time (`time_ratio` <= 10).
Per use case and per step, the seconds each took (from run_all's own summary), to see what grows.

The customers are loaded into a new database first (not timed), and it is dropped afterwards, whatever happens;
each size gets its own Feast project on Redis, torn down afterwards.

    BENCH_SCALE_ROWS=100000,1000000 .venv/bin/python bench/bench_scale.py
    BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432  REDIS_CONNECTION=127.0.0.1:6379
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import customers_database, free_port, run_measured

from common.telemetry import disable_telemetry

log = logging.getLogger("bench.scale")
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("REDIS_CONNECTION", "127.0.0.1:6379")
TARGET_S, TARGET_RSS_MB, TARGET_RATIO = 600, 4096, 10.0


def tear_down_features(workspace: Path) -> None:
    """The size's Feast project off Redis (its registry is in the workspace)."""
    from common.features.feast_store import open_store
    from common.workspace import Workspace

    features = Workspace(workspace).result("uc1_04_feature_engineering_feast")
    if features is not None:
        open_store(features.outputs["repo_config"]).teardown()


def stop_server(workspace: Path) -> None:
    from common.serving import local_server
    from common.workspace import Workspace

    if (workspace / "serving").exists():
        local_server.stop(Workspace(workspace))


def bench_size(tmp: Path, rows: int) -> dict[str, Any]:
    workspace = tmp / str(rows)
    from common.config import load_config

    with customers_database(PG_SERVER, load_config().dataset.table, rows, "bench_scale") as url:
        sets = [
            f"warehouse.url={url}",
            "features.online_store=redis",
            f"features.redis_connection={REDIS}",
            f"features.project=bench_scale_{rows}_{secrets.token_hex(3)}",
            f"serving.port={free_port()}",
        ]
        log.info("run_all.py on %d customers", rows)
        try:
            done = run_measured("run_all.py", workspace, sets)
        finally:
            stop_server(workspace)
            tear_down_features(workspace)
    report = done["summary"]
    return {
        "wall_s": done["wall_s"],
        "peak_rss_mb": done["peak_rss_mb"],
        "status": report.get("run_all"),
        "steps_s": {
            step["step"]: step.get("duration_s")
            for uc in report.get("use_cases", [])
            for step in uc.get("steps", [])
        },
    }


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    sizes = [int(s) for s in os.environ.get("BENCH_SCALE_ROWS", "100000,1000000").split(",")]
    figures: dict[str, Any] = {"bench": "scale", "target_s": TARGET_S, "target_rss_mb": TARGET_RSS_MB}
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        for rows in sizes:
            figures.update({f"rows_{rows}_{k}": v for k, v in bench_size(tmp, rows).items()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(sizes) == 2:
        small, large = sorted(sizes)
        ratio = figures[f"rows_{large}_wall_s"] / figures[f"rows_{small}_wall_s"]
        figures.update(time_ratio=round(ratio, 2), rows_ratio=large / small, target_time_ratio=TARGET_RATIO)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
