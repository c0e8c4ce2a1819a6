"""Benchmark the run history: what recording one run costs a step (the history line appended, then the reports
page rebuilt) in a workspace with a year of cron history, against the same in a workspace with a page's worth
(100 runs, the rows the page shows), its anchor, in this run.

Targets: at most 50 ms per recorded run with 20,000 runs of history, and at most 1.5 times the anchor: the page
reads the newest runs from the file's end, so a long history costs no more. Each side records BENCH_RUNS runs
(default 100), alternating in blocks of 10; the median counts.

    .venv/bin/python bench/bench_history.py
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import history
from common.workspace import Workspace

HISTORY = 20_000  # about a year of a dozen cron lines of a few steps each
TARGET_MS, TARGET_RATIO = 50.0, 1.5


def seeded(root: Path, runs: int) -> Workspace:
    ws = Workspace(root)
    line = {
        "kind": "step",
        "status": "ok",
        "exit_code": 0,
        "duration_s": 1.0,
        "error": "",
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": "2026-01-01T00:00:01+00:00",
    }
    with history.history_file(ws).open("w") as out:
        for i in range(runs):
            figures = {"rows": i, "version": str(i % 50), "roc_auc": 0.9}
            out.write(
                json.dumps({**line, "name": f"uc{i % 6 + 1}_0{i % 7 + 1}_step", "figures": figures}) + "\n"
            )
    return ws


def record_ms(ws: Workspace) -> float:
    start = time.perf_counter()
    with history.recorded(ws, "step", "bench_step") as entry:
        entry.figures = {"rows": 1}
    return (time.perf_counter() - start) * 1000


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "100"))
    with tempfile.TemporaryDirectory() as tmp:
        long, short = seeded(Path(tmp) / "long", HISTORY), seeded(Path(tmp) / "short", 100)
        times: dict[str, list[float]] = {"long": [], "short": []}
        for _ in range(runs // 10):
            for name, ws in (("long", long), ("short", short)):
                times[name] += [record_ms(ws) for _ in range(10)]
        size_mb = history.history_file(long).stat().st_size / 1e6
    per_run, anchor = statistics.median(times["long"]), statistics.median(times["short"])
    print(
        json.dumps(
            {
                "bench": "history",
                "history_runs": HISTORY,
                "history_mb": round(size_mb, 1),
                "runs": runs,
                "ms_per_recorded_run": round(per_run, 2),
                "anchor_ms_100_runs": round(anchor, 2),
                "ratio": round(per_run / anchor, 2),
                "target_ms": TARGET_MS,
                "target_ratio": TARGET_RATIO,
                "ok": per_run <= TARGET_MS and per_run / anchor <= TARGET_RATIO,
            }
        )
    )


if __name__ == "__main__":
    main()
