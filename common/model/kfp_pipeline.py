"""The KFP v2 training pipeline. Components are thin: imports inside (KFP ships each function's source), the
work in project modules, so a cluster image needs this project installed (kubeflow.base_image)."""

# No `from __future__ import annotations`: KFP reads the real annotation objects (Input[Dataset], ...).
import json
from typing import Any

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from common.features.engineering import feature_types
from common.features.feast_store import feast_names
from common.settings import Settings

PIPELINE_NAME = "churn-training"


def build_training_set(
    repo_config: str,
    entities_path: str,
    feature_service: str,
    feast_names: str,
    training_set: Output[Dataset],
) -> int:
    """Point-in-time join of the feature service onto (customer, label time, label) with Feast; columns go in
    and come out under the names the warehouse has (`feast_names` maps them for Feast)."""
    import json

    import pandas as pd

    from common.features.feast_store import from_feast, open_store

    names = json.loads(feast_names)
    store = open_store(json.loads(repo_config))
    entities = pd.read_parquet(entities_path).rename(columns=names)
    df = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service(feature_service)
    ).to_df()
    df.rename(columns=from_feast(names)).to_parquet(training_set.path, index=False)
    return len(df)


def split_data(
    training_set: Input[Dataset],
    target: str,
    test_size: float,
    seed: int,
    max_train_rows: int,
    train: Output[Dataset],
    test: Output[Dataset],
) -> None:
    """A seeded split stratified on the label; a training part over `max_train_rows` is sampled to it (the
    holdout stays whole). The sizes go on the train artifact's metadata."""
    import logging

    import pandas as pd

    from common.model.training import at_most, split

    train_df, test_df = split(pd.read_parquet(training_set.path), target, test_size, seed)
    kept = at_most(train_df, target, max_train_rows, seed)
    if len(kept) < len(train_df):
        logging.getLogger("common.model.kfp_pipeline").info(
            "the candidates train on a stratified sample of %d of %d training rows (training.max_train_rows); "
            "the holdout of %d rows is scored whole",
            len(kept),
            len(train_df),
            len(test_df),
        )
    train.metadata.update({"rows": len(kept), "rows_before_sampling": len(train_df)})
    kept.to_parquet(train.path, index=False)
    test_df.to_parquet(test.path, index=False)


def train_candidate(
    train: Input[Dataset],
    name: str,
    estimator: str,
    params: str,
    feature_types: str,
    target: str,
    cv_folds: int,
    seed: int,
    threshold: str,
    min_precision: float,
    min_recall: float,
    margin: float,
    model: Output[Model],
    cv_metrics: Output[Metrics],
) -> None:
    """k-fold CV (out-of-fold scores and the decision threshold), then a fit on the whole training set."""
    import json

    import joblib
    import pandas as pd

    from common.model import training as t

    df, types = pd.read_parquet(train.path), json.loads(feature_types)
    x, y = df[list(types)], df[target]
    pipe = t.make_model(estimator, json.loads(params), types)
    oof = t.out_of_fold(pipe, x, y, cv_folds, seed)
    cut = t.choose_threshold(
        y, oof, threshold if threshold == "auto" else float(threshold), min_precision, min_recall, margin
    )
    for key, value in t.scores(y, oof, cut).items():
        if key != "confusion_matrix":
            cv_metrics.log_metric(key, float(value))
    joblib.dump(t.for_serving(pipe.fit(x, y)), model.path)
    model.metadata.update({"candidate": name, "decision_threshold": cut})


def evaluate_candidate(
    model: Input[Model],
    cv_metrics: Input[Metrics],
    test: Input[Dataset],
    name: str,
    estimator: str,
    params: str,
    feature_types: str,
    target: str,
    tracking_uri: str,
    parent_run_id: str,
    metrics: Output[Metrics],
    plots: Output[Artifact],
) -> str:
    """Holdout metrics and ROC / PR / confusion plots, logged as an MLflow child run with the model."""
    import json
    from pathlib import Path

    import joblib
    import pandas as pd

    from common.model import training as t
    from common.model.registry import log_candidate

    fitted, df, types = joblib.load(model.path), pd.read_parquet(test.path), json.loads(feature_types)
    cut = float(model.metadata["decision_threshold"])
    proba = fitted.predict_proba(df[list(types)])[:, 1]
    holdout = t.scores(df[target], proba, cut)
    for key, value in holdout.items():
        if key != "confusion_matrix":
            metrics.log_metric(key, float(value))
    t.plots(df[target], proba, cut, Path(plots.path), name)
    info = {
        "estimator": estimator,
        "params": json.loads(params),
        "threshold": cut,
        "test": holdout,
        "cv": {k: float(v) for k, v in cv_metrics.metadata.items() if isinstance(v, int | float)},
    }
    holdout = df.assign(churn_probability=proba)  # what drift (UC3) and fairness (UC5) compare with
    return log_candidate(
        tracking_uri, parent_run_id, name, fitted, info, Path(plots.path), df[list(types)].head(3), holdout
    )


def gate(
    test: Input[Dataset],
    tracking_uri: str,
    parent_run_id: str,
    gate_config: str,
    model_name: str,
    feature_types: str,
    target: str,
    data_tag: str,
    decision: Output[Artifact],
) -> str:
    """The evaluation gate (inside a component: dsl.If is skipped by kfp.local). Registers only on a pass."""
    import json

    import pandas as pd

    from common.model.registry import run_gate
    from common.settings import GateCfg

    record = run_gate(
        tracking_uri,
        parent_run_id,
        GateCfg.model_validate_json(gate_config),
        model_name,
        pd.read_parquet(test.path),
        list(json.loads(feature_types)),
        target,
        data_tag,
    )
    with open(decision.path, "w") as fh:
        json.dump(record, fh, indent=2)
    return "passed" if record["passed"] else "failed"


COMPONENTS = (build_training_set, split_data, train_candidate, evaluate_candidate, gate)


def build_pipeline(cfg: Settings) -> Any:
    """The pipeline for this config: one train and one evaluate task per candidate, then the gate."""
    comp = {
        f.__name__: dsl.component(f, base_image=cfg.kubeflow.base_image, install_kfp_package=False)
        for f in COMPONENTS
    }
    tr, ds = cfg.training, cfg.dataset
    types = json.dumps(feature_types(cfg.features, ds))
    floors = tr.gate.thresholds

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Churn model: Feast training set, candidates with CV, "
        "holdout evaluation logged to MLflow, evaluation gate and registry.",
    )
    def churn_training(
        repo_config: str, entities_path: str, tracking_uri: str, parent_run_id: str, data_tag: str
    ) -> None:
        built = comp["build_training_set"](
            repo_config=repo_config,
            entities_path=entities_path,
            feature_service=cfg.features.feature_service,
            feast_names=json.dumps(feast_names(cfg.features, ds)),
        )
        parts = comp["split_data"](
            training_set=built.outputs["training_set"],
            target=ds.target,
            test_size=tr.test_size,
            seed=tr.seed,
            max_train_rows=tr.max_train_rows,
        )
        tasks = [built, parts]
        for c in tr.candidates:
            common = {
                "name": c.name,
                "estimator": c.estimator,
                "params": json.dumps(c.params),
                "feature_types": types,
                "target": ds.target,
            }
            fit = comp["train_candidate"](
                train=parts.outputs["train"],
                cv_folds=tr.cv_folds,
                seed=tr.seed,
                threshold=str(tr.decision_threshold),
                min_precision=floors.get("precision", 0.0),
                min_recall=floors.get("recall", 0.0),
                margin=tr.threshold_margin,
                **common,
            ).set_display_name(f"train-{c.name}")
            tasks += [
                fit,
                comp["evaluate_candidate"](
                    model=fit.outputs["model"],
                    cv_metrics=fit.outputs["cv_metrics"],
                    test=parts.outputs["test"],
                    tracking_uri=tracking_uri,
                    parent_run_id=parent_run_id,
                    **common,
                ).set_display_name(f"evaluate-{c.name}"),
            ]
        decided = comp["gate"](
            test=parts.outputs["test"],
            tracking_uri=tracking_uri,
            parent_run_id=parent_run_id,
            gate_config=tr.gate.model_dump_json(),
            model_name=tr.registered_model,
            feature_types=types,
            target=ds.target,
            data_tag=data_tag,
        ).after(*tasks[2:])
        for task in [*tasks, decided]:
            task.set_caching_options(False)  # a rerun must retrain and re-gate, never reuse

    return churn_training
