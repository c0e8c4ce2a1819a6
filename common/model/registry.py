"""MLflow's registry for the training pipeline: a candidate's child run, and the gate run that registers the best
candidate with the challenger / champion aliases; and the registry as lineage queries read it. Where MLflow is
and its client: common.model.tracking."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.model import training
from common.model.gate import Decision, decide, pick
from common.model.tracking import client_for
from common.settings import GateCfg

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)
TEST_PREFIX = "test_"
HOLDOUT_ARTIFACT = "holdout/predictions.parquet"  # a candidate run's holdout rows and churn_probability


def log_candidate(
    uri: str,
    parent_run_id: str,
    name: str,
    model: Any,
    info: dict[str, Any],
    plot_dir: Path,
    example: pd.DataFrame,
    holdout: pd.DataFrame,
) -> str:
    """A child run of the parent: params, CV and holdout metrics, plots, the holdout rows with their
    probabilities (HOLDOUT_ARTIFACT), the model with signature, example, explicit pip requirements and its
    decision threshold. Returns the run id."""
    import mlflow
    import numpy
    import pandas
    import sklearn
    from mlflow.models import infer_signature

    client = client_for(uri)
    parent = client.get_run(parent_run_id)
    # Integer inputs declared as doubles: a missing value at serving time must not break schema enforcement.
    example = example.astype({c: "float64" for c in example.select_dtypes("integer").columns})
    with mlflow.start_run(
        run_name=name,
        experiment_id=parent.info.experiment_id,
        parent_run_id=parent_run_id,
        tags={"candidate": name, "estimator": info["estimator"]},
    ) as run:
        mlflow.log_params(
            {
                "estimator": info["estimator"],
                "decision_threshold": info["threshold"],
                **{f"model.{k}": v for k, v in info["params"].items()},
            }
        )
        mlflow.log_metrics({f"cv_{k}": v for k, v in info["cv"].items()})
        mlflow.log_metrics(
            {f"{TEST_PREFIX}{k}": v for k, v in info["test"].items() if k != "confusion_matrix"}
        )
        mlflow.log_dict(info["test"]["confusion_matrix"], "confusion_matrix.json")
        mlflow.log_artifacts(str(plot_dir), "plots")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(HOLDOUT_ARTIFACT).name
            holdout.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), str(Path(HOLDOUT_ARTIFACT).parent))
        logged = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            metadata={"decision_threshold": info["threshold"]},
            # model.pkl: what KServe's sklearn runtime loads from the storageUri (skops, MLflow's default, it cannot)
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pandas.__version__}",
                f"numpy=={numpy.__version__}",
            ],
        )
        mlflow.set_tag("model_uri", logged.model_uri)
        return run.info.run_id


def run_gate(
    uri: str,
    parent_run_id: str,
    gate: GateCfg,
    model_name: str,
    test: pd.DataFrame,
    features: list[str],
    target: str,
    data_tag: str,
) -> dict[str, Any]:
    """Pick the best child run, check it, compare with the champion on the same holdout, register on a pass.
    The decision and every reason land on the parent run (and the new version) as tags."""
    import mlflow

    client = client_for(uri)
    runs = {
        r.data.tags["candidate"]: r
        for r in client.search_runs(
            [client.get_run(parent_run_id).info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        )
    }
    if not runs:
        raise RuntimeError(f"no candidate runs under parent run {parent_run_id}")
    metrics = {
        c: {k[len(TEST_PREFIX) :]: v for k, v in r.data.metrics.items() if k.startswith(TEST_PREFIX)}
        for c, r in runs.items()
    }
    best = pick(metrics, gate)
    run = runs[best]
    model = mlflow.sklearn.load_model(run.data.tags["model_uri"])
    x = test[features]
    decision = decide(
        best,
        metrics[best],
        gate,
        _champion_score(client, model_name, gate, test, features, target),
        training.latency_ms(model, x.head(1)),
        training.is_deterministic(model, x.head(50)),
    )
    threshold = float(run.data.params["decision_threshold"])
    floors = gate.thresholds
    best_reach = training.reachable(
        test[target], model.predict_proba(x)[:, 1], floors.get("precision", 0.0), floors.get("recall", 0.0)
    )
    version = (
        _register(client, model_name, run, decision, metrics[best], threshold, data_tag)
        if decision.passed
        else None
    )
    record = {
        **decision.to_dict(),
        "version": version,
        "metrics": metrics[best],
        "run_id": run.info.run_id,
        "decision_threshold": threshold,
        "reachable": best_reach,
        "all_candidates": metrics,
    }
    client.set_tag(parent_run_id, "gate.decision", json.dumps(record))
    client.set_tag(parent_run_id, "gate.passed", str(decision.passed).lower())
    if version is not None:  # last: only a training whose every act is done is one a rerun may skip
        _mark_trained(client, model_name, version, parent_run_id)
    log.info("gate: %s", "; ".join(decision.reasons))
    return record


def _mark_trained(client: MlflowClient, name: str, version: str, parent_run_id: str) -> None:
    """The version's training fingerprint (common.chain.train), copied from its parent run. A kill before this
    leaves a version without one: the next run trains again rather than skip to a half-registered version."""
    fingerprint = client.get_run(parent_run_id).data.tags.get("training_fingerprint")
    if fingerprint:
        client.set_model_version_tag(name, version, "training_fingerprint", fingerprint)


def _champion_score(
    client: MlflowClient, name: str, gate: GateCfg, test: pd.DataFrame, features: list[str], target: str
) -> float | None:
    """The champion's primary metric on this holdout (its recorded one if it cannot score these columns)."""
    import mlflow

    from common.model.version import ModelVersion

    champion = ModelVersion.find(client, name, "champion")
    if champion is None:
        return None
    try:
        model = mlflow.sklearn.load_model(champion.model_uri)
        proba = model.predict_proba(test[features])[:, 1]
        return float(training.scores(test[target], proba, champion.threshold)[gate.primary_metric])
    except (KeyError, ValueError) as exc:
        log.warning(
            "champion v%s cannot score this holdout (%s): using its recorded metric", champion.version, exc
        )
        return champion.metrics[gate.primary_metric]


def _register(
    client: MlflowClient,
    name: str,
    run: Any,
    decision: Decision,
    metrics: dict[str, float],
    threshold: float,
    data_tag: str,
) -> str:
    import mlflow

    tags = {
        "candidate": decision.candidate,
        "decision_threshold": str(threshold),
        "data_tag": data_tag,
        "gate.passed": "true",
        "gate.promoted": str(decision.promote).lower(),
        "gate.reasons": json.dumps(decision.reasons),
        **{f"metric.{k}": f"{v:.6f}" for k, v in metrics.items()},
    }
    version = mlflow.register_model(run.data.tags["model_uri"], name, tags=tags).version
    client.set_registered_model_alias(name, "challenger", version)
    if decision.promote:
        client.set_registered_model_alias(name, "champion", version)
    log.info("registered %s version %s (%s)", name, version, "champion" if decision.promote else "challenger")
    return str(version)


class RegistryView:
    """What lineage queries ask the registry (common.lineage.query.Models): aliases, and one version's account."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def aliases(self, name: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            return {a: str(v) for a, v in self.client.get_registered_model(name).aliases.items()}
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":  # never registered: no run reached the gate yet
                return {}
            raise

    def version(self, name: str, ref: str) -> dict[str, Any]:
        """`ref` a version number or an alias: the version, its aliases, MLflow run, data tag and gate decision.
        A ref the registry does not know is the asker's mistake (a lineage query names it): ConfigError."""
        from common.errors import ConfigError
        from common.model.version import ModelVersion

        mv = ModelVersion.find(self.client, name, ref)
        if mv is None:
            raise ConfigError(f"models:/{name} has no version or alias {ref!r}")
        return {
            "name": name,
            "version": mv.version,
            "aliases": list(mv.aliases),
            "mlflow_run_id": mv.run_id,
            "created": mv.created,
            "data_tag": mv.data_tag,
            "gate": mv.gate,
            "metrics": mv.metrics,
        }
