"""Benchmark UC3's drift check on a large inference log: 1M and 10M logged rows (the dataset's 12 columns, drifted
customers, in files of 1M rows as the server writes them by day) against a 100k-row reference. Our check reads the
window with pyarrow, samples drift.max_rows (200,000) while reading, and runs Evidently's DataDriftPreset on the
sample. The anchor, in the same run, is Evidently on the whole 1M rows without sampling.

Targets: 1M rows in at most 10 s and 1 GB peak RSS; 10M rows in at most 60 s and 2 GB. Each figure comes from a
fresh interpreter (peak RSS is that process's own); seconds are the work after imports (importing evidently costs
~4-6 s once per process, reported apart).

    .venv/bin/python bench/bench_drift.py          # BENCH_DRIFT_ROWS=1000000,10000000 to choose the sizes
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import measured_child

FILE_ROWS = 1_000_000
TARGETS = {1_000_000: (10.0, 1024), 10_000_000: (60.0, 2048)}


def write_log(folder: Path, rows: int, now: datetime) -> None:
    """`rows` drifted customers as logged rows (ts inside the last hour), FILE_ROWS per file."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from common.data.sample_data import generate

    day = folder / f"date={now:%Y-%m-%d}"
    day.mkdir(parents=True)
    for n, start in enumerate(range(0, rows, FILE_ROWS)):
        df = generate(min(FILE_ROWS, rows - start), seed=100 + n, drift=True, id_offset=start)
        df = df.drop(columns=["event_timestamp", "churn"])
        seconds = np.random.default_rng(n).uniform(0, 3000, len(df))
        df.insert(0, "ts", pd_timestamps(now, seconds))
        df["model_version"] = "1"
        df["churn_probability"] = np.random.default_rng(n).beta(2, 5, len(df))
        df["prediction"] = (df["churn_probability"] >= 0.5).astype("int64")
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), day / f"part-{n:04d}.parquet")


def pd_timestamps(now: datetime, seconds: object) -> object:
    import pandas as pd

    return pd.Timestamp(now) - pd.to_timedelta(seconds, unit="s")


def child(mode: str, folder: Path, max_rows: int) -> dict[str, object]:
    """In the child: import, then read the window (sampled or whole) and compare it with the reference."""
    begin = time.perf_counter()
    import evidently  # noqa: F401  (its import, ~4-6 s, is timed apart)

    from common.config import load_config
    from common.drift.compare import data_drift
    from common.drift.window import log_files, read_window

    imported = time.perf_counter() - begin
    cfg = load_config(environ={})
    ds = cfg.dataset
    import pandas as pd

    reference = pd.read_parquet(folder / "reference.parquet")
    now = datetime.fromisoformat((folder / "now.txt").read_text())
    start = time.perf_counter()
    files = log_files(folder / "log", now - timedelta(hours=24), now)
    columns = [ds.id_column, *ds.numeric, *ds.categorical, "churn_probability"]
    window = read_window(files, now - timedelta(hours=24), now, columns, max_rows, 42)
    read_s = time.perf_counter() - start
    _, found, share = data_drift(reference, window.frame, ds, cfg.drift.share_threshold)
    return {
        "seconds": time.perf_counter() - start,
        "read_s": read_s,
        "import_s": imported,
        "rows": window.rows,
        "compared": len(window.frame),
        "share": round(share, 3),
        "drifted": [c["column"] for c in found if c["detected"]],
    }


def measured(mode: str, folder: Path, max_rows: int) -> dict[str, object]:
    return measured_child(__file__, mode, str(folder), str(max_rows))


def case(rows: int, tmp: Path, reference: Path, now: datetime, anchor: bool) -> dict[str, object]:
    folder = tmp / f"rows{rows}"
    folder.mkdir()
    (folder / "reference.parquet").symlink_to(reference)
    (folder / "now.txt").write_text(now.isoformat())
    write_log(folder / "log", rows, now)
    ours = measured("sampled", folder, 200_000)
    seconds, mb = TARGETS.get(rows, (float("inf"), 1 << 30))
    out = {
        "rows": rows,
        "compared": ours["compared"],
        "seconds": round(float(ours["seconds"]), 2),
        "read_s": round(float(ours["read_s"]), 2),
        "import_s": round(float(ours["import_s"]), 2),
        "peak_rss_mb": ours["peak_rss_mb"],
        "drifted": ours["drifted"],
        "target_s": seconds,
        "target_mb": mb,
        "met": float(ours["seconds"]) <= seconds and int(ours["peak_rss_mb"]) <= mb,
    }
    if anchor:  # Evidently on every row: what sampling saves
        full = measured("full", folder, rows)
        out["anchor_full_seconds"] = round(float(full["seconds"]), 2)
        out["anchor_full_peak_rss_mb"] = full["peak_rss_mb"]
        out["ratio"] = round(float(ours["seconds"]) / float(full["seconds"]), 3)
    return out


def main() -> int:
    from common.data.sample_data import generate

    sizes = [int(s) for s in os.environ.get("BENCH_DRIFT_ROWS", "1000000,10000000").split(",")]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        reference = tmp / "reference.parquet"
        generate(100_000, seed=1).to_parquet(reference)
        cases = [case(rows, tmp, reference, now, anchor=rows == sizes[0]) for rows in sizes]
    print(
        json.dumps(
            {
                "bench": "drift",
                "reference_rows": 100_000,
                "max_rows": 200_000,
                "cases": cases,
                "met": all(c["met"] for c in cases),
            }
        )
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))))
        raise SystemExit(0)
    raise SystemExit(main())
