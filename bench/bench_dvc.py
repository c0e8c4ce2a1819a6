"""Benchmark step 02: version a BENCH_ROWS-row (default 1,000,000) extract in the DVC data registry.

Target: at most 10 s for DataRegistry.commit of the new file (DVC add, push to the remote, git commit and
tag): version_s. Reported apart: importing dvc and git (import_s), creating the registry (init_s), and
committing the same content again (unchanged_s; it must make no new version: unchanged_created=false).
The remote is config's dvc section: by default a folder in the temporary directory (set DVC_REMOTE_URL to
measure a real one). Everything else is written in a temporary directory, removed at the end.

    BENCH_ROWS=20000 .venv/bin/python bench/bench_dvc.py
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import write_extract

from common.config import load_config
from common.data.registry import data_path
from common.settings import Settings
from common.telemetry import disable_telemetry

log = logging.getLogger("bench.dvc")
TARGET_S = 10


def seconds(start: float) -> float:
    return round(time.perf_counter() - start, 2)


def bench(cfg: Settings, tmp: Path, extract: Path) -> dict[str, Any]:
    """Time registry creation, a new version and an unchanged commit."""
    start = time.perf_counter()
    import dvc.repo  # noqa: F401 - imported to time it
    import git  # noqa: F401

    from common.data.registry import DataRegistry

    import_s = seconds(start)
    start = time.perf_counter()
    registry = DataRegistry(root=tmp / "data-registry", remote=cfg.dvc, default_remote=tmp / "dvc-remote")
    init_s = seconds(start)
    rel = data_path(cfg)
    timings: dict[str, Any] = {}
    for label in ("version", "unchanged"):
        copy = shutil.copyfile(extract, tmp / f"{label}.parquet")  # commit moves its source in
        start = time.perf_counter()
        version = registry.commit(copy, rel, "bench")
        timings[f"{label}_s"] = seconds(start)
        timings[f"{label}_created"] = version.created
        log.info("%s: %s created=%s in %.2fs", label, version.tag, version.created, timings[f"{label}_s"])
    return {
        "import_s": import_s,
        "init_s": init_s,
        **timings,
        "versions": len(registry.versions()),
        "remote": cfg.dvc.remote_url or "local folder",
    }


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("dvc", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    disable_telemetry()
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    cfg = load_config()
    tmp = Path(tempfile.mkdtemp(prefix="bench_dvc_"))
    os.environ["DVC_SITE_CACHE_DIR"] = str(tmp / "dvc-site-cache")  # before anything imports dvc
    try:
        extract = write_extract(cfg, rows, tmp / f"{cfg.dataset.table}.parquet")
        file_mb = round(extract.stat().st_size / 2**20, 1)
        figures = bench(cfg, tmp, extract)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps({"bench": "dvc", "rows": rows, "file_mb": file_mb, **figures, "target_s": TARGET_S}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
