"""Benchmark step 03: validate a BENCH_ROWS-row (default 1,000,000) extract with Great Expectations.

Target: at most 15 s after imports, for read_extract + validate (the config's suite through a Checkpoint
that renders Data Docs) + failed_expectations, in this process. `import great_expectations` is timed apart
(import_s) and not counted. Building the extract Parquet (as step 01 writes it) is not timed. Everything is
written in a temporary directory, removed at the end.

    BENCH_ROWS=20000 .venv/bin/python bench/bench_validate.py
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

from common.chain.validate import failed_expectations, read_extract, validate
from common.config import load_config
from common.settings import Settings
from common.telemetry import disable_telemetry

log = logging.getLogger("bench.validate")
TARGET_S = 15


def timed_import() -> float:
    start = time.perf_counter()
    import great_expectations  # noqa: F401 - imported to time it

    return time.perf_counter() - start


def bench(cfg: Settings, path: Path, docs_dir: Path) -> dict[str, Any]:
    """Time each part of what step 03 does with the extract."""
    start = time.perf_counter()
    df = read_extract(path)
    read_s = time.perf_counter() - start
    result, _ = validate(df, cfg.dataset, docs_dir)
    failures = failed_expectations(result, len(df))
    total = time.perf_counter() - start
    if failures:
        log.warning("failed expectations:\n  - %s", "\n  - ".join(failures))
    return {
        "read_s": round(read_s, 2),
        "validate_s": round(total - read_s, 2),
        "total_after_import_s": round(total, 2),
        "expectations": result["statistics"]["evaluated_expectations"],
        "success": result["success"],
        "failed": len(failures),
    }


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    disable_telemetry()
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    cfg = load_config()
    tmp = Path(tempfile.mkdtemp(prefix="bench_validate_"))
    tempfile.tempdir = str(tmp)  # GX's ephemeral context makes a temporary docs folder: keep it in here
    try:
        path = write_extract(cfg, rows, tmp / f"{cfg.dataset.table}.parquet")
        log.info("extract of %d rows: %s (%.1f MB)", rows, path, path.stat().st_size / 2**20)
        import_s = timed_import()
        figures = bench(cfg, path, tmp / "data_docs")
    finally:
        tempfile.tempdir = None
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "validate",
                "rows": rows,
                "import_s": round(import_s, 2),
                **figures,
                "target_s": TARGET_S,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
