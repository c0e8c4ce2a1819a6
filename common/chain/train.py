"""The chain's training step (UC1 step 05): train the candidates in a Kubeflow Pipelines v2 pipeline (Feast point-in-
time training set, k-fold CV, holdout evaluation, MLflow runs under one parent, evaluation gate, registry with
challenger / champion aliases). Locally it runs with kfp.local (common/model/local_runner.py); with kubeflow.host
set it is compiled and submitted. A model that fails the gate exits 4, listing every unmet threshold; nothing is
registered or promoted. A version already trained on the same data with the same training config is not trained again:
the step is skipped, naming it (the training fingerprint, a registry tag)."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.chain import FEATURES, TRAIN, VERSION
from common.chain.records import Features, Trained, Versioned
from common.errors import GateFailedError, MlopsError
from common.model.tracking import artifact_root, client_for, experiment_id, tracking_uri
from common.model.version import ModelVersion
from common.redact import without_password
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, atomic_path

STEP = TRAIN
FINGERPRINT_TAG = "training_fingerprint"
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    feats = ws.require(FEATURES, f"run {FEATURES}.py first")
    built = Features.of(feats)
    uri = tracking_uri(cfg, ws)
    client = client_for(uri)
    tag = built.data_tag
    versioned = ws.result(VERSION)
    fingerprint = training_fingerprint(cfg, tag, Versioned.of(versioned).md5 if versioned else "")
    done = trained_before(client, cfg.training.registered_model, fingerprint)
    if done is not None:
        return _already_trained(cfg, done, tag)
    exp = experiment_id(client, cfg.training.experiment, artifact_root(uri, ws))
    parent = client.create_run(
        exp,
        run_name=f"training-{tag}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        tags={
            "data_tag": tag,
            "pipeline": "churn-training",
            "runner": cfg.kubeflow.host or "kfp.local",
            FINGERPRINT_TAG: fingerprint,  # the gate copies it onto the version it registers, last
        },
    ).info.run_id
    package = compile_pipeline(cfg, ws.dir("kfp") / "churn_training.yaml")
    client.log_artifact(parent, str(package), "pipeline")
    args = {
        "repo_config": json.dumps(built.repo_config),
        "tracking_uri": without_password(
            uri
        ),  # KFP prints its arguments: the tasks read the password from env
        "parent_run_id": parent,
        "entities_path": str(_entities(cfg, ws, built.data_path)),
        "data_tag": tag,
    }
    os.environ["MLFLOW_TRACKING_URI"] = uri  # what the local tasks inherit (common.redact.with_password)
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


def training_fingerprint(cfg: Settings, data_tag: str, data_md5: str) -> str:
    """What a training depends on: the data version (tag and content) and the config that shapes the model
    (the dataset, the derived features, training but for whether a pass may take the champion alias)."""
    import hashlib

    training = cfg.training.model_dump(mode="json")
    for key in ("promote", "promote_key"):  # who may promote decides aliases, not the model
        training["gate"].pop(key)
    basis = {
        "data": [data_tag, data_md5],
        "dataset": cfg.dataset.model_dump(mode="json"),
        "derived": [d.model_dump(mode="json") for d in cfg.features.derived],
        "training": training,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:20]


def trained_before(client: Any, name: str, fingerprint: str) -> ModelVersion | None:
    """The newest registered version with this training fingerprint, if any, with its aliases (a search leaves
    them out)."""
    found = client.search_model_versions(f"name = '{name}' and tags.{FINGERPRINT_TAG} = '{fingerprint}'")
    newest = max(found, key=lambda mv: int(mv.version), default=None)
    return None if newest is None else ModelVersion.find(client, name, str(newest.version))


def _already_trained(cfg: Settings, mv: ModelVersion, tag: str) -> StepResult:
    """Skipped: the version trained on this data with this config, as a training result names it."""
    name, tags = cfg.training.registered_model, mv.tags
    reason = f"version {mv.version} was trained on {tag} with this training config already"
    log.info("no training: %s (fingerprint %s)", reason, tags.get(FINGERPRINT_TAG))
    return StepResult(
        step=STEP,
        status="skipped",
        outputs={
            **Trained(mv.version, list(mv.aliases), mv.gate["reasons"], reason).dump(),
            "model_name": name,
            "model_uri": mv.model_uri,
            "candidate": tags.get("candidate"),
            "decision_threshold": mv.threshold,
            "run_id": mv.run_id,
        },
        metrics={k: round(v, 4) for k, v in mv.metrics.items()},
    )


def compile_pipeline(cfg: Settings, dest: Path) -> Path:
    from kfp import compiler

    from common.model.kfp_pipeline import build_pipeline

    with atomic_path(dest) as tmp:
        compiler.Compiler().compile(build_pipeline(cfg), str(tmp))
    return dest


def _entities(cfg: Settings, ws: Workspace, data_path: str) -> Path:
    """(customer, label time, label): the rows Feast joins features onto, as of each label's time; with the
    dataset's attributes, which ride along to the holdout (UC5 groups by them) without becoming features."""
    import pandas as pd

    ds = cfg.dataset
    df = pd.read_parquet(data_path, columns=[ds.id_column, ds.event_time, ds.target, *ds.attributes])
    dest = ws.dir("training") / "entities.parquet"
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp, index=False)
    return dest


def _run_local(cfg: Settings, ws: Workspace, args: dict[str, str]) -> None:
    from common.model.kfp_pipeline import COMPONENTS, build_pipeline
    from common.model.local_runner import run_local

    runner = cfg.kubeflow.local_runner
    log.info(
        "running the training pipeline locally (kfp.local, %s), %d candidates",
        runner,
        len(cfg.training.candidates),
    )
    components = {f.__name__: f for f in COMPONENTS}
    run_local(build_pipeline(cfg), args, ws.dir("kfp", "runs"), runner, components)


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
    aliases = ["challenger", "champion"] if decision["promote"] else ["challenger"]
    return StepResult(
        step=STEP,
        outputs={
            **Trained(str(version), aliases, decision["reasons"]).dump(),
            "model_name": name,
            "model_uri": f"models:/{name}/{version}",
            "candidate": decision["candidate"],
            "decision_threshold": decision["decision_threshold"],
            "parent_run_id": parent,
            "run_id": decision["run_id"],
            "pipeline_yaml": str(package),
        },
        metrics={k: round(v, 4) for k, v in decision["metrics"].items()},
        datasets_read=[f"feast://{cfg.features.project}/{cfg.features.feature_view}"],
        datasets_written=[f"models:/{name}/{version}"],
    )
