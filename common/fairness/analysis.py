"""One fairness analysis of a model's scored rows: per sensitive feature the groups' metrics with intervals,
the disparities over groups large enough to judge, the What-If views, and the verdict against thresholds."""

from __future__ import annotations

from collections.abc import Mapping
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
    from common.features.engineering import feature_types

    fc = cfg.fairness
    pred = (proba >= threshold).astype(np.int64)
    features = {f: groups_of(rows[f], f, fc.max_groups) for f in fc.sensitive_features}
    inputs = feature_types(cfg.features, cfg.dataset)
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
            # not a model input (dataset.attributes): the model cannot see it, so there is nothing to flip
            "flip_rate": None
            if score is None or name not in inputs
            else whatif.flip_rate(rows, name, score, threshold, cfg.dataset, cfg.features),
            "model_input": name in inputs,
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
        "verdict": verdict_of(violations, fc.enforce),
        "enforce": fc.enforce,
    }


def verdict_of(violations: list[str], enforce: str) -> str:
    """The one word every output uses (the JSON, the page, the card, the log, the version tag, run_all):
    passed (no violation), warn (violations reported, fairness.enforce: warn) or failed (blocked)."""
    if not violations:
        return "passed"
    return "failed" if enforce == "block" else "warn"


MISSING = "(missing)"


def groups_of(values: Any, name: str, max_groups: int) -> np.ndarray:
    """A sensitive feature's values as group labels: text as it is, whole numbers without a fraction (a 0/1
    flag that reads as floats is groups "0" and "1"), missing values as one group. More than `max_groups`
    distinct values is a config error: the column is not a group label."""
    import pandas as pd

    from common.data.schema import group_text
    from common.errors import ConfigError

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) > max_groups:
        raise ConfigError(
            f"fairness.sensitive_features {name}: {len(uniques)} distinct values, more than fairness.max_groups "
            f"{max_groups}; a sensitive feature is a group label: bin it (features.derived bins) or raise the limit"
        )
    labels = np.array([*(group_text(u) for u in uniques), MISSING], dtype=object)
    return labels[codes].astype(str)  # code -1 (missing) reads the last label


def check_features(cfg: Settings) -> None:
    """Each sensitive feature is a column of the dataset (an input or one of dataset.attributes) or a derived
    bin or flag; UC5's check of its config, run by run_all before any use case starts. How many groups a column
    holds is known only from the data: the analysis refuses more than fairness.max_groups."""
    from common.errors import ConfigError

    ds = cfg.dataset
    known = {*ds.inputs, *ds.attributes, *(d.name for d in cfg.features.derived if d.bins or d.flag)}
    unknown = [f for f in cfg.fairness.sensitive_features if f not in known]
    if unknown:
        raise ConfigError(
            f"fairness.sensitive_features {unknown}: not a column of the dataset (dataset.numeric, "
            f"dataset.categorical, dataset.attributes) or a derived bin or flag; known: {sorted(known)}"
        )


def verdict(found: dict[str, Any], thresholds: Mapping[Any, float]) -> list[str]:
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
