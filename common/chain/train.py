"""The chain's training step (UC1 step 05): train the candidates in a Kubeflow Pipelines v2 pipeline (Feast point-in-
time training set, k-fold CV, holdout evaluation, MLflow runs under one parent, evaluation gate, registry with
challenger / champion aliases). Locally it runs with kfp.local's SubprocessRunner; with kubeflow.host set it is
compiled and submitted. A model that fails the gate exits 4, listing every unmet threshold; nothing is registered
or promoted."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.chain import FEATURES, TRAIN
from common.errors import GateFailedError, MlopsError
from common.model.registry import artifact_root, client_for, experiment_id, tracking_uri
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, atomic_path

STEP = TRAIN
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    feats = ws.require(FEATURES, f"run {FEATURES}.py first")
    uri = tracking_uri(cfg, ws)
    client = client_for(uri)
    exp = experiment_id(client, cfg.training.experiment, artifact_root(uri, ws))
    tag = feats.outputs["data_tag"]
    parent = client.create_run(
        exp,
        run_name=f"training-{tag}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        tags={"data_tag": tag, "pipeline": "churn-training", "runner": cfg.kubeflow.host or "kfp.local"},
    ).info.run_id
    package = compile_pipeline(cfg, ws.dir("kfp") / "churn_training.yaml")
    client.log_artifact(parent, str(package), "pipeline")
    args = {
        "repo_config": json.dumps(feats.outputs["repo_config"]),
        "tracking_uri": uri,
        "parent_run_id": parent,
        "entities_path": str(_entities(cfg, ws, feats.outputs["data_path"])),
        "data_tag": tag,
    }
    try:
        _submit(cfg, package, args) if cfg.kubeflow.host else _run_local(cfg, ws, args)
    except Exception:
        client.set_terminated(parent, "FAILED")
        raise
    client.set_terminated(parent, "FINISHED")
    decision = json.loads(client.get_run(parent).data.tags["gate.decision"])
    if not decision["passed"]:
        from common.model.training import describe_reachable

        raise GateFailedError(
            f"model {decision['candidate']} failed the evaluation gate (MLflow run {parent}); "
            "nothing registered, the champion is unchanged:\n  - "
            + "\n  - ".join(
                [
                    *decision["unmet"],
                    describe_reachable(decision["decision_threshold"], decision["reachable"]),
                ]
            )
        )
    return _result(cfg, decision, parent, package, feats)


def compile_pipeline(cfg: Settings, dest: Path) -> Path:
    from kfp import compiler

    from common.model.kfp_pipeline import build_pipeline

    with atomic_path(dest) as tmp:
        compiler.Compiler().compile(build_pipeline(cfg), str(tmp))
    return dest


def _entities(cfg: Settings, ws: Workspace, data_path: str) -> Path:
    """(customer, label time, label): the rows Feast joins features onto, as of each label's time."""
    import pandas as pd

    ds = cfg.dataset
    df = pd.read_parquet(data_path, columns=[ds.id_column, ds.event_time, ds.target])
    dest = ws.dir("training") / "entities.parquet"
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp, index=False)
    return dest


def _run_local(cfg: Settings, ws: Workspace, args: dict[str, str]) -> None:
    from kfp import local

    from common.model.kfp_pipeline import build_pipeline

    log.info(
        "running the training pipeline locally (kfp.local SubprocessRunner), %d candidates",
        len(cfg.training.candidates),
    )
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(ws.dir("kfp", "runs")))
    build_pipeline(cfg)(**args)


def _submit(cfg: Settings, package: Path, args: dict[str, str]) -> None:
    import kfp

    client = kfp.Client(host=cfg.kubeflow.host, namespace=cfg.kubeflow.namespace)
    run = client.create_run_from_pipeline_package(
        str(package),
        arguments=args,
        experiment_name=cfg.training.experiment,
        run_name=f"churn-training-{args['data_tag']}",
    )
    log.info(
        "submitted run %s to %s; waiting up to %ds", run.run_id, cfg.kubeflow.host, cfg.kubeflow.timeout_s
    )
    done = client.wait_for_run_completion(run.run_id, timeout=cfg.kubeflow.timeout_s)
    if str(done.state).upper() != "SUCCEEDED":
        raise MlopsError(f"KFP run {run.run_id} on {cfg.kubeflow.host} ended {done.state}")


def _result(
    cfg: Settings, decision: dict[str, Any], parent: str, package: Path, feats: StepResult
) -> StepResult:
    name, version = cfg.training.registered_model, decision["version"]
    return StepResult(
        step=STEP,
        outputs={
            "model_name": name,
            "version": version,
            "model_uri": f"models:/{name}/{version}",
            "aliases": ["challenger", "champion"] if decision["promote"] else ["challenger"],
            "candidate": decision["candidate"],
            "decision_threshold": decision["decision_threshold"],
            "parent_run_id": parent,
            "run_id": decision["run_id"],
            "pipeline_yaml": str(package),
            "reasons": decision["reasons"],
        },
        metrics={k: round(v, 4) for k, v in decision["metrics"].items()},
        datasets_read=[f"feast://{cfg.features.project}/{cfg.features.feature_view}"],
        datasets_written=[f"models:/{name}/{version}"],
    )
