"""Benchmark UC2's canary machinery on this machine, each figure against its anchor in the same run:

- router overhead: the two-version server (the split, both arms the same model) against the one-version server of
  UC1 on the same model, one client, BENCH_REQUESTS each in alternating blocks: p50 at most 0.2 ms above;
- the replay load generator against KServe's ceiling (a ModelServer answering a constant,
  bench/constant_model_server.py) asked for 3,000 requests/s: at least 500 requests/s reached;
- an experiment (UC2 steps 02 and 03 on replayed customers, 5 iterations of 1 s) ends within its configured length
  + 5 s: from step 02's start to the decision, the server's restart with the winner timed apart.

    BENCH_REQUESTS=1000 .venv/bin/python bench/bench_ab.py
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_serving import kserve_ceiling, side_by_side, stop_server, wait_answering
from benchlib import ROOT, free_port, run_measured

from common.experiment.canary import canary_spec
from common.model.tracking import client_for
from common.model.version import ModelVersion
from common.serving import local_server
from common.serving.contract import EXAMPLE_CUSTOMER
from common.settings import ABTestingCfg
from common.telemetry import disable_telemetry
from common.workspace import Workspace

MODEL = "churn-predictor"
PATH = f"/v1/models/{MODEL}:predict"
FAST = [
    "ab_testing.interval_s=1",
    "ab_testing.iterations=5",
    "ab_testing.min_requests=20",
    "ab_testing.canary_percent=30",
    "ab_testing.replay_rate=200",
    "ab_testing.mode=split",  # the split's costs; shadow mode's p50 is bench_serving.py's shadow_server
]


def second_version(ws: Path) -> str:
    """v1's artifact registered again as the challenger: the same model in both arms."""
    client = client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")
    v1 = client.get_model_version(MODEL, "1")
    v2 = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL, "challenger", v2.version)
    return str(v2.version)


def router_overhead(ws: Path, one_port: int, candidate: str, n: int) -> dict[str, Any]:
    workspace = Workspace(ws)
    single = local_server.state(workspace)["spec"]
    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    beside = ModelVersion.require(client_for(uri), MODEL, candidate)
    split = canary_spec({**single, "port": free_port()}, beside, ABTestingCfg(canary_percent=50))
    proc = local_server.start(workspace, split)
    try:
        local_server.wait_ready(split, proc, 90)
        body = json.dumps({"instances": [EXAMPLE_CUSTOMER]}).encode()
        found = side_by_side({"one_version": one_port, "two_versions": split["port"]}, PATH, body, n)
    finally:
        local_server.kill(proc.pid)
    extra = found["two_versions"]["p50_ms"] - found["one_version"]["p50_ms"]
    return {**found, "p50_overhead_ms": round(extra, 3), "target_ms": 0.2, "met": extra <= 0.2}


def replay_rate(ws: Path, seconds: float = 5.0) -> dict[str, Any]:
    from common.experiment.replay import Load

    port = free_port()
    ceiling = kserve_ceiling(port)
    folder = Path(tempfile.mkdtemp(prefix="bench_replay_"))
    try:
        wait_answering(port, PATH, json.dumps({"instances": [EXAMPLE_CUSTOMER]}).encode())
        state = json.loads((ws / "state" / "steps.json").read_text())
        experiment = {
            "endpoint": f"http://127.0.0.1:{port}{PATH}",
            "replay": {
                "rate": 3000,
                "duration_s": seconds,
                "data_path": state["uc1_03_data_validation_ge"]["outputs"]["path"],
                "id_column": "customer_id",
                "fields": [k for k in EXAMPLE_CUSTOMER if k != "customer_id"],
                "label": "churn",
            },
        }
        start = time.perf_counter()
        Load(experiment, folder).run()
        wall = time.perf_counter() - start
        lines = (folder / "responses.jsonl").read_text().splitlines()
        ok = sum(json.loads(line)["status"] == 200 for line in lines)
    finally:
        os.killpg(ceiling.pid, 15)
        shutil.rmtree(folder, ignore_errors=True)
    rate = ok / wall
    return {"asked_per_s": 3000, "reached_per_s": round(rate, 1), "target_per_s": 500, "met": rate >= 500}


def experiment_length(ws: Path, port: int) -> dict[str, Any]:
    sets = [*FAST, f"serving.port={port}"]
    run_measured("uc2_ab_testing/uc2_01_deploy_canary_kserve.py", ws, sets)
    created = run_measured("uc2_ab_testing/uc2_02_create_experiment_iter8.py", ws, sets)
    monitored = run_measured("uc2_ab_testing/uc2_03_monitor_experiment.py", ws, sets)
    report = json.loads(Path(monitored["summary"]["outputs"]["record"]).read_text())
    observed = report["iterations"][-1]["elapsed_s"]
    length = 1 * 5
    took = created["summary"]["duration_s"] + observed
    return {
        "configured_s": length,
        "experiment_s": round(took, 2),
        "decision": report["decision"],
        "step03_wall_s": monitored["wall_s"],
        "target_s": length + 5,
        "met": took <= length + 5,
    }


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    n = int(os.environ.get("BENCH_REQUESTS", "1000"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_ab_"))
    ws, port = tmp / "ws", free_port()
    figures: dict[str, Any] = {"bench": "ab", "requests": n}
    try:
        run_measured("uc1_churn_prediction/run_pipeline.py", ws, [f"serving.port={port}"])
        candidate = second_version(ws)
        figures["router"] = router_overhead(ws, port, candidate, n)
        figures["replay"] = replay_rate(ws)
        figures["experiment"] = experiment_length(ws, port)
    finally:
        stop_server(ROOT, ws)
        subprocess.run(["pkill", "-f", f"{tmp}"], check=False)  # a replay left by a failed run
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
