"""One fairness analysis of a model's scored rows: per sensitive feature the groups' metrics with intervals,
the disparities over groups large enough to judge, the What-If views, and the verdict against thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.fairness import metrics, whatif
from common.fairness.whatif import Scorer
from common.settings import Settings


def analyse(
    rows: Any,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    score: Scorer | None,
    cfg: Settings,
    out: Path,
) -> dict[str, Any]:
    """`rows` hold the sensitive features (and the model's inputs, for the flip rate when `score` is given)."""
    fc = cfg.fairness
    pred = (proba >= threshold).astype(np.int64)
    features = {f: rows[f].astype(str).to_numpy() for f in fc.sensitive_features}
    intervals = metrics.bootstrap(y, pred, features, fc.bootstrap_rounds, fc.seed)
    found = {}
    for name, groups in features.items():
        table = metrics.by_group(y, pred, groups)
        small = sorted(g for g, row in table.items() if (row["count"] or 0) < fc.min_group_size)
        judged = ~np.isin(groups, small)
        found[name] = {
            "groups": {
                g: {**row, "interval": intervals[name][g], "small": g in small} for g, row in table.items()
            },
            "small_groups": small,
            "disparities": metrics.disparities_of({g: row for g, row in table.items() if g not in small}),
            "equal_tpr_thresholds": whatif.equal_tpr_thresholds(y[judged], proba[judged], groups[judged]),
            "flip_rate": None
            if score is None
            else whatif.flip_rate(rows, name, score, threshold, cfg.dataset, cfg.features),
            "plots": [p.name for p in whatif.plots(y, proba, groups, name, out)],
        }
    violations = verdict(found, fc.thresholds)
    return {
        "rows": len(y),
        "threshold": threshold,
        "bootstrap_rounds": fc.bootstrap_rounds,
        "min_group_size": fc.min_group_size,
        "thresholds": fc.thresholds,
        "features": found,
        "violations": violations,
        "verdict": "failed" if violations else "passed",
        "enforce": fc.enforce,
    }


def check_features(cfg: Settings) -> None:
    """Each sensitive feature is a categorical column or a derived bin or flag (checked where it is used: a
    dataset without age_group need not configure fairness to run the other use cases)."""
    from common.errors import ConfigError

    known = {*cfg.dataset.categorical, *(d.name for d in cfg.features.derived if d.bins or d.flag)}
    unknown = [f for f in cfg.fairness.sensitive_features if f not in known]
    if unknown:
        raise ConfigError(
            f"fairness.sensitive_features {unknown}: not a categorical column of the dataset or a derived bin "
            f"or flag; known: {sorted(known)}"
        )


def verdict(found: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Every feature, metric and value past its threshold: a difference above it, a ratio below it."""
    violations = []
    for feature, result in found.items():
        for metric, limit in thresholds.items():
            value = result["disparities"].get(metric)
            if value is None:
                continue
            ratio = metric.endswith("_ratio")
            if (value < limit) if ratio else (value > limit):
                side = "under" if ratio else "over"
                violations.append(
                    f"{feature}: {metric} {value:.3f} {side} fairness.thresholds.{metric} {limit:g}"
                )
    return violations
