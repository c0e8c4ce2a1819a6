"""A user's own config file that gives only `warehouse:` (their PostgreSQL) and `dataset:` (their table) runs the
whole lifecycle: every other key behaves as config.yaml documents it, and the keys that describe the sample
table (derived features, sensitive features, the card's texts) start empty and say so instead of leaking in."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import ROOT, run_script, summary_of

TABLE = "my_customers"


def test_warehouse_and_dataset_alone_run_the_whole_lifecycle(tmp_path: Path, pg_url: str) -> None:
    ws = tmp_path / "ws"
    env = {"MLOPS__WORKSPACE": str(ws)}  # where this test writes (an override, not a key of the file)
    dataset = {**yaml.safe_load((ROOT / "config.yaml").read_text())["dataset"], "table": TABLE}
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"warehouse": {"url": pg_url}, "dataset": dataset}))
    load = ["--config", str(config), "--rows", "3000"]
    loaded = run_script("common/data/sample_data.py", *load, workspace=ws, env=env, fast=False)
    assert loaded.returncode == 0, loaded.stderr[-3000:]

    proc = run_script("run_all.py", "--config", str(config), workspace=ws, env=env, fast=False, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = summary_of(proc)
    assert [uc["use_case"] for uc in report["use_cases"]] == ["uc1", "uc2", "uc3", "uc5", "uc4", "uc6"]
    steps = {s["step"]: s for uc in report["use_cases"] for s in uc["steps"]}
    trained = json.loads((ws / "state" / "steps.json").read_text())["uc1_05_model_training_kubeflow"]
    assert len(trained["outputs"]["reasons"]) > 3  # the default candidates went through the default gate
    fairness = steps["uc5_01_fairness_analysis_fairlearn"]
    assert fairness["status"] == "skipped" and "fairness.sensitive_features" in fairness["reason"]
    card = next((ws / "reports" / "model_card").glob("*/model_card.md")).read_text()
    for key in ("intended_use", "limitations", "ethical_considerations", "owners"):
        assert f"Not stated: set `model_card.{key}` in the config." in card
    assert "synthetic customers" not in card  # the sample model's texts are not claimed for this table
