"""The KFP pipeline compiled for a cluster: the YAML loads and names every component and candidate."""

from pathlib import Path

import yaml

from common.chain.train import compile_pipeline
from common.config import load_config


def test_compiled_yaml_names_every_component_and_candidate(tmp_path: Path) -> None:
    cfg = load_config(overrides=["kubeflow.base_image=registry.example/churn:1.0"], environ={})
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "churn_training.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "churn-training"
    tasks = spec["root"]["dag"]["tasks"]
    names = {t["taskInfo"]["name"] for t in tasks.values()}
    assert {"build-training-set", "split-data", "gate"} <= names
    assert {f"train-{c.name}" for c in cfg.training.candidates} <= names
    assert {f"evaluate-{c.name}" for c in cfg.training.candidates} <= names
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {"registry.example/churn:1.0"}
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "repo_config",
        "entities_path",
        "tracking_uri",
        "parent_run_id",
        "data_tag",
    }
    gate = next(t for t in tasks.values() if t["taskInfo"]["name"] == "gate")
    evaluations = {key for key, t in tasks.items() if t["taskInfo"]["name"].startswith("evaluate-")}
    assert len(evaluations) == len(cfg.training.candidates)
    assert evaluations <= set(gate["dependentTasks"])  # the gate sees every candidate's MLflow run
    assert all(t.get("cachingOptions", {}) == {} for t in tasks.values())  # caching off: reruns retrain
