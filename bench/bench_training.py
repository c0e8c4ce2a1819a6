"""Benchmark step 05, the KFP training pipeline (3 candidates with 5-fold CV, MLflow, gate), run by kfp.local on
the default config. Targets: 10,000 customers in at most 60 s; 100,000 in at most 5 min with peak RSS at most
3 GB (the largest process: the step or one of its task processes). Steps 01-04 prepare a fresh workspace first
(not timed). Also reports the champion's holdout metrics on the default data (10,000 customers, seed 42).

    BENCH_TRAIN_ROWS=10000 .venv/bin/python bench/bench_training.py     # sizes, comma-separated
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

from benchlib import run_measured

from common.telemetry import disable_telemetry

log = logging.getLogger("bench.training")
UC1 = "uc1_churn_prediction"
PREPARE = (
    "uc1_01_data_ingestion_postgres",
    "uc1_02_data_versioning_dvc",
    "uc1_03_data_validation_ge",
    "uc1_04_feature_engineering_feast",
)
TARGETS = {10_000: {"target_s": 60}, 100_000: {"target_s": 300, "target_rss_mb": 3072}}


def bench_size(tmp: Path, rows: int) -> dict[str, Any]:
    workspace = tmp / str(rows)
    sets = [f"sample_data.rows={rows}"]
    for step in PREPARE:
        run_measured(f"{UC1}/{step}.py", workspace, sets)
    done = run_measured(f"{UC1}/uc1_05_model_training_kubeflow.py", workspace, sets)
    summary = done["summary"]
    figures = {
        "wall_s": done["wall_s"],
        "step_s": summary["duration_s"],
        "peak_rss_mb": done["peak_rss_mb"],
        "champion": summary["outputs"]["candidate"],
        **TARGETS.get(rows, {}),
    }
    if rows == 10_000:  # the default data: the champion's holdout metrics
        figures["holdout"] = summary["metrics"]
    return figures


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    disable_telemetry()
    sizes = [int(s) for s in os.environ.get("BENCH_TRAIN_ROWS", "10000,100000").split(",")]
    figures: dict[str, Any] = {"bench": "training", "candidates": 3, "cv_folds": 5}
    tmp = Path(tempfile.mkdtemp(prefix="bench_training_"))
    try:
        for rows in sizes:
            log.info("training on %d customers", rows)
            figures.update({f"rows_{rows}_{k}": v for k, v in bench_size(tmp, rows).items()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
