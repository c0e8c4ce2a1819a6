"""What a model card says, gathered from what the registry and the workspace already know (nothing typed twice):
the version and its MLflow run, the training data and its validation, the features, the holdout metrics with
intervals, the gate's reasons, the fairness verdict (UC5 step 01), the lineage provenance (UC4) and, from
config, what only people know."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import MlopsError
from common.model.version import ModelVersion
from common.redact import redact
from common.settings import Settings
from common.usecases import script_for
from common.workspace import Workspace

log = logging.getLogger(__name__)
CARD_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def gather(cfg: Settings, ws: Workspace, target: ModelVersion) -> dict[str, Any]:
    """Everything on the card of `target`."""
    from common.model.lookup import holdout_predictions
    from common.model.tracking import client_for, tracking_uri

    run = client_for(tracking_uri(cfg, ws)).get_run(target.run_id)
    params = run.data.params
    holdout = holdout_predictions(cfg, ws, target.run_id)
    tags = target.tags
    return {
        "model": {
            "name": target.name,
            "version": target.version,
            "aliases": target.aliases,
            "date": datetime.fromtimestamp(target.created / 1000, UTC).date().isoformat(),
            "mlflow_run_id": target.run_id,
            "candidate": tags.get("candidate", ""),
            "estimator": params.get("estimator", ""),
            "parameters": {k.removeprefix("model."): v for k, v in params.items() if k.startswith("model.")},
            "decision_threshold": target.threshold,
        },
        "data": training_data(cfg, ws, target.trained_on()),
        "features": features(cfg),
        "metrics": holdout_metrics(
            target, holdout, cfg.dataset.target, cfg.fairness.bootstrap_rounds, cfg.fairness.seed
        ),
        "holdout_rows": None if holdout is None else len(holdout),
        "gate": json.loads(tags.get("gate.reasons", "[]")),
        "fairness": fairness(ws, target),
        "fairness_note": "no fairness.sensitive_features configured: set them to analyse fairness"
        if not cfg.fairness.sensitive_features
        else f"not analysed yet ({Path(script_for('fairness')).name})",
        "lineage": provenance(cfg, ws, target),
        "considerations": cfg.model_card.model_dump(),
        "unstated": unstated(cfg),
    }


def unstated(cfg: Settings) -> dict[str, str]:
    """Each section only people can write that the config leaves empty, with the key that fills it."""
    return {
        key: f"model_card.{key}" for key, value in cfg.model_card.model_dump().items() if value in ([], "")
    }


def training_data(cfg: Settings, ws: Workspace, tag: str) -> dict[str, Any]:
    """The DVC tag, rows and time window of the version's data, and its validation with the Data Docs link."""
    import pyarrow.parquet as pq

    from common.data.registry import data_path, open_registry

    ds = cfg.dataset
    with ws.scratch(f"{ds.table}_{tag}.parquet") as tmp:
        open_registry(cfg, ws).export(data_path(cfg), tag, tmp)
        times = pq.read_table(tmp, columns=[ds.event_time])[ds.event_time].to_pandas()
    report = ws.root / "reports" / "validation" / f"{ds.table}_{tag}.json"
    validation = json.loads(report.read_text()) if report.exists() else None
    return {
        "table": ds.table,
        "data_tag": tag,
        "rows": len(times),
        "time_window": [str(times.min()), str(times.max())] if len(times) else None,
        "validation": None
        if validation is None
        else {
            "success": validation.get("success"),
            "statistics": validation.get("statistics"),
            "report": str(report),
        },
        "data_docs": str(ws.root / "reports" / "data_docs" / "index.html"),
    }


def features(cfg: Settings) -> list[dict[str, str]]:
    """Every model input with its kind; derived ones with how they are computed."""
    from common.features.engineering import feature_types

    how = {}
    for d in cfg.features.derived:
        if d.expr:
            how[d.name] = d.expr
        elif d.flag:
            how[d.name] = f"1 if {d.flag} else 0"
        else:
            how[d.name] = f"bins of {d.column} at {d.bins}, labelled {d.labels}"
    return [
        {"name": n, "kind": k, "derived": how.get(n, "")}
        for n, k in feature_types(cfg.features, cfg.dataset).items()
    ]


def holdout_metrics(
    target: ModelVersion, holdout: Any, label: str, rounds: int, seed: int
) -> dict[str, dict[str, Any]]:
    """The registry's holdout metrics (as MLflow has them), with 95 % bootstrap intervals on the logged holdout."""
    intervals = (
        {} if holdout is None else _intervals(holdout[label].to_numpy(), holdout, target, rounds, seed)
    )
    return {
        m: {"value": target.metrics[m], "interval": intervals.get(m)}
        for m in CARD_METRICS
        if m in target.metrics
    }


def _intervals(
    y: np.ndarray, holdout: Any, target: ModelVersion, rounds: int, seed: int
) -> dict[str, list[float]]:
    from common.model.training import scores

    proba = holdout["churn_probability"].to_numpy()
    rng, draws = np.random.default_rng(seed), []
    for _ in range(rounds):
        pick = rng.integers(0, len(y), len(y))
        if len(set(y[pick].tolist())) == 2:
            found = scores(y[pick], proba[pick], target.threshold)
            draws.append([found[m] for m in CARD_METRICS])
    if not draws:  # every resample had one class: no interval to give
        return {}
    low, high = np.quantile(np.array(draws), [0.025, 0.975], axis=0)
    return {m: [round(float(low[i]), 4), round(float(high[i]), 4)] for i, m in enumerate(CARD_METRICS)}


def fairness(ws: Workspace, target: ModelVersion) -> dict[str, Any] | None:
    """UC5 step 01's result for this version, when it ran."""
    path = ws.root / "reports" / "fairness" / f"{target.name}-v{target.version}" / "fairness.json"
    if not path.exists():
        return None
    found = json.loads(path.read_text())
    return {
        # the word of the version's fairness tag too (passed, inconclusive, warn, failed)
        "verdict": found["verdict"],
        "violations": found["violations"],
        "inconclusive": found.get("inconclusive", []),  # a report written before intervals were judged: none
        "thresholds": found["thresholds"],
        "features": {
            name: {**f["disparities"], "flip_rate": f["flip_rate"], "small_groups": f["small_groups"]}
            for name, f in found["features"].items()
        },
        "production": production_line(found.get("production")),
        "report": str(path.with_suffix(".html")),
    }


def production_line(found: dict[str, Any] | None) -> str:
    """Step 01's analysis of labelled production traffic in a sentence: information beside the verdict."""
    if found is None:  # a report written before production traffic was read
        return "not analysed"
    if not found["rows"]:
        return str(found["note"])
    past = "; ".join(found["findings"]) or "no disparity past or straddling its threshold"
    return f"{found['rows']} labelled rows of the version's logged answers (information, not the verdict): {past}"


def provenance(cfg: Settings, ws: Workspace, target: ModelVersion) -> dict[str, Any]:
    """UC4's provenance of the version, when lineage knows it."""
    from common.lineage import query
    from common.lineage.sources import open_source, registry_view

    try:
        found, _ = query.provenance(open_source(cfg, ws), registry_view(cfg, ws), target.name, target.version)
    except MlopsError as exc:  # no events yet, Marquez down: the card says so and goes on
        return {"available": False, "reason": redact(str(exc))}  # published: no credential
    return {
        "available": True,
        "tables": [t["name"] for t in found["tables"]],
        "data_versions": [f"{v['name']}@{v['version']}" for v in found["data_versions"]],
        "feature_views": [v["name"] for v in found["feature_views"]],
        "runs": len(found["runs"]),
        "consistent": found["consistent"],
    }


def card_dir(ws: Workspace, target: ModelVersion) -> Path:
    return ws.dir("reports", "model_card", f"{target.name}-v{target.version}")
