"""Benchmark lineage emission: the overhead per step run of the step runner's OpenLineage events (START, then
COMPLETE with its datasets and facets) over the same step with lineage.backend: none, its anchor, in this run.

Targets: at most 20 ms per step with the file backend and at most 50 ms with http to a local receiver (a
ThreadingHTTPServer answering 201, as Marquez does). The step is a replay of what step 03 records for the default
config (the DVC version read, with row and null counts and one assertion per expectation), so the figure is the
emission's, not the step's. Each backend runs BENCH_STEPS steps (default 200), alternating in blocks of 20 with the
anchor; the median per-step time counts. The client's one-off import is timed apart (import_s).

    .venv/bin/python bench/bench_lineage.py
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from common.cli import run_step
from common.config import load_config
from common.data.expectations import expectation_specs
from common.step import StepResult
from common.workspace import Workspace

TARGET_MS = {"file": 20.0, "http": 50.0}
BLOCK = 20


def replayed_step(cfg: object) -> StepResult:
    """What step 03 records: the version read, its counts and every expectation's outcome."""
    ds = cfg.dataset
    uri = "dvc:///w/data-registry/data/customers.parquet@data-v1"
    checks = [{"assertion": c, "column": k.get("column"), "success": True} for c, k in expectation_specs(ds)]
    facts = {"rows": 10_000, "nulls": dict.fromkeys(ds.columns, 0), "assertions": checks}
    return StepResult(step="bench_step", datasets_read=[uri], facts={uri: facts})


def receiver() -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def per_step_ms(cfg: object, ws: Workspace, result: StepResult, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run_step("bench_step", lambda _c, _w: result, cfg, ws)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    logging.disable(logging.WARNING)
    steps = int(os.environ.get("BENCH_STEPS", "200"))
    start = time.perf_counter()
    import openlineage.client  # noqa: F401 - imported to time it

    import_s = time.perf_counter() - start
    server = receiver()
    figures: dict[str, object] = {"bench": "lineage", "steps": steps, "import_s": round(import_s, 3)}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        configs = {
            backend: load_config(
                overrides=[
                    f"workspace={Path(tmp) / backend}",
                    f"lineage.backend={backend}",
                    f"lineage.url={url}",
                ],
                environ={},
            )
            for backend in ("none", "file", "http")
        }
        result = replayed_step(configs["none"])
        timings: dict[str, list[float]] = {b: [] for b in configs}
        for _ in range(max(1, steps // BLOCK)):
            for backend, cfg in configs.items():
                timings[backend] += per_step_ms(cfg, Workspace(cfg.workspace), result, BLOCK)
        anchor = statistics.median(timings["none"])
        figures["anchor_ms"] = round(anchor, 2)
        for backend in ("file", "http"):
            overhead = statistics.median(timings[backend]) - anchor
            figures[f"{backend}_overhead_ms"] = round(overhead, 2)
            figures[f"{backend}_target_ms"] = TARGET_MS[backend]
            figures[f"{backend}_met"] = overhead <= TARGET_MS[backend]
        spool = Path(tmp) / "http" / "lineage" / "spool.jsonl"
        figures["http_spooled"] = len(spool.read_text().splitlines()) if spool.exists() else 0
    server.shutdown()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
