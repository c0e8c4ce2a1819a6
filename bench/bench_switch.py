"""Benchmark a model switch under load: one client sends requests back to back to the local model server (step
06) while it is switched between two versions BENCH_SWITCHES times (the switch route, as UC1, UC2 and UC6 do).
The gaps between consecutive answers are measured: for each switch, the longest gap while it ran; the anchor is
the same client on the same server with no switch, in the same run. Target: the p99 of the per-switch longest
gap under 50 ms, no connection refused and no failed answer.

    BENCH_SWITCHES=20 .venv/bin/python bench/bench_switch.py
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import free_port, run_measured

from common.serving.contract import EXAMPLE_CUSTOMER
from common.telemetry import disable_telemetry

log = logging.getLogger("bench.switch")
MODEL = "churn-predictor"
FAST = {  # the model's quality does not matter here: train in seconds
    "MLOPS__SAMPLE_DATA__ROWS": "2000",
    "MLOPS__TRAINING__CV_FOLDS": "3",
    "MLOPS__TRAINING__CANDIDATES": "[{name: logistic_regression, estimator: "
    "sklearn.linear_model.LogisticRegression, params: {max_iter: 500}}]",
    "MLOPS__TRAINING__GATE__THRESHOLDS": "{accuracy: 0.6, roc_auc: 0.6}",
}


class Client:
    """Back-to-back POSTs on one keep-alive connection; the time each answer arrived, and what failed."""

    def __init__(self, port: int) -> None:
        self.port, self.stamps, self.refused, self.failed = port, [], 0, 0  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.body = json.dumps({"instances": [EXAMPLE_CUSTOMER]}).encode()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        path = f"/v1/models/{MODEL}:predict"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("POST", path, self.body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    self.stamps.append(time.perf_counter())
                else:
                    self.failed += 1
            except ConnectionRefusedError:
                self.refused += 1
                conn.close()
            except (OSError, http.client.HTTPException):
                self.failed += 1
                conn.close()


def longest_gap_ms(stamps: list[float], start: float, end: float) -> float:
    """The longest time without an answer within [start, end], counting from the last answer before it."""
    inside = [s for s in stamps if start <= s <= end]
    before = [s for s in stamps if s < start][-1:]
    points = [*before, *inside, end] if inside or before else [start, end]
    return float(np.max(np.diff(points)) * 1000) if len(points) > 1 else (end - start) * 1000


def measure(cfg: Any, ws: Any, specs: list[dict[str, Any]], switches: int) -> dict[str, Any]:
    from common.serving import local_server

    client = Client(cfg.serving.port)
    client.thread.start()
    time.sleep(1)
    anchor_start = time.perf_counter()
    time.sleep(8)
    anchor = np.diff([s for s in client.stamps if s >= anchor_start]) * 1000
    longest, took = [], []
    for n in range(switches):
        current = local_server.state(ws)
        start = time.perf_counter()
        if not local_server.switch(ws, current, specs[(n + 1) % 2], cfg.serving.ready_timeout_s):
            raise RuntimeError("the server did not switch in place")
        end = time.perf_counter()
        local_server.record(ws, current["pid"], specs[(n + 1) % 2])
        time.sleep(0.3)  # answers after the switch count too: the first on the new version
        longest.append(longest_gap_ms(client.stamps, start, time.perf_counter()))
        took.append((end - start) * 1000)
        time.sleep(0.5)
    client.stop.set()
    client.thread.join(timeout=10)
    p99 = float(np.percentile(longest, 99))
    return {
        "switches": switches,
        "anchor_gap_ms": {
            "p50": round(float(np.median(anchor)), 2),
            "p99": round(float(np.percentile(anchor, 99)), 2),
            "max": round(float(anchor.max()), 2),
        },
        "switch_longest_gap_ms": {
            "p50": round(float(np.median(longest)), 2),
            "p99": round(p99, 2),
            "max": round(max(longest), 2),
        },
        "switch_took_ms_median": round(float(np.median(took)), 1),
        "gap_p99_over_anchor_p99": round(p99 / float(np.percentile(anchor, 99)), 1),
        "answers": len(client.stamps),
        "refused": client.refused,
        "failed": client.failed,
        "target": {
            "switch_longest_gap_p99_ms": 50,
            "met": p99 < 50 and client.refused == 0 and client.failed == 0,
        },
    }


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    from common.config import load_config
    from common.model.tracking import client_for, tracking_uri
    from common.model.version import require
    from common.serving import local_server
    from common.serving.versions import server_spec
    from common.workspace import Workspace

    switches = int(os.environ.get("BENCH_SWITCHES", "20"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_switch_"))
    ws_path, port = tmp / "ws", free_port()
    os.environ.update(FAST)
    ws = Workspace(ws_path)
    try:
        run_measured("uc1_churn_prediction/run_pipeline.py", ws_path, [f"serving.port={port}"])
        cfg = load_config(overrides=[f"workspace={ws_path}", f"serving.port={port}"])
        client = client_for(tracking_uri(cfg, ws))
        v1 = client.get_model_version(MODEL, "1")
        client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
        client.set_registered_model_alias(MODEL, "bench", "2")
        specs = [server_spec(cfg, ws, require(cfg, ws, alias), "champion") for alias in ("champion", "bench")]
        figures = {"bench": "switch", **measure(cfg, ws, specs, switches)}
    finally:
        local_server.stop(ws)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
