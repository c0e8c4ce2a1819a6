"""Group fairness metrics, pure: fairlearn's MetricFrame per sensitive feature, the parity differences and
ratios, and bootstrap intervals computed from weighted confusion counts (every feature of a round shares one
resample, so 200 rounds over 100k rows take seconds, where MetricFrame's own n_boot recomputes everything)."""

from __future__ import annotations

from typing import Any

import numpy as np

GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy")
DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference")


def by_group(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per group: count and GROUP_METRICS, through fairlearn's MetricFrame."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
            "accuracy": accuracy_score,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    )
    table = frame.by_group.to_dict(orient="index")
    return {str(g): {k: _num(v) for k, v in row.items()} for g, row in table.items()}


def disparities(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    """fairlearn's demographic parity difference and ratio and equalized odds difference over `groups`."""
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    return {
        "demographic_parity_difference": _num(
            demographic_parity_difference(y, pred, sensitive_features=groups)
        ),
        "demographic_parity_ratio": _num(demographic_parity_ratio(y, pred, sensitive_features=groups)),
        "equalized_odds_difference": _num(equalized_odds_difference(y, pred, sensitive_features=groups)),
    }


def bootstrap(
    y: np.ndarray,
    pred: np.ndarray,
    features: dict[str, np.ndarray],
    rounds: int,
    seed: int,
    quantiles: tuple[float, float] = (0.025, 0.975),
) -> dict[str, dict[str, dict[str, list[float | None]]]]:
    """Percentile intervals of GROUP_METRICS per feature and group, from `rounds` resamples of all rows with
    replacement (a resample is a weight per row: how often it was drawn)."""
    n = len(y)
    cell = (np.asarray(y, dtype=np.int64) * 2 + np.asarray(pred, dtype=np.int64)).astype(np.int64)
    coded = {name: np.unique(values.astype(str), return_inverse=True) for name, values in features.items()}
    draws: dict[str, list[np.ndarray]] = {name: [] for name in features}
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        for name, (labels, codes) in coded.items():
            counts = np.bincount(codes * 4 + cell, weights=weights, minlength=len(labels) * 4)
            draws[name].append(_rates(counts.reshape(len(labels), 4)))
    out: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    for name, (labels, _) in coded.items():
        stacked = np.stack(draws[name])  # rounds x groups x metrics
        low, high = np.nanquantile(stacked, quantiles, axis=0)
        out[name] = {
            str(g): {m: [_num(low[i, j]), _num(high[i, j])] for j, m in enumerate(GROUP_METRICS)}
            for i, g in enumerate(labels)
        }
    return out


def _rates(counts: np.ndarray) -> np.ndarray:
    """GROUP_METRICS from (groups x [TN, FP, FN, TP]) counts; NaN where a denominator is 0."""
    tn, fp, fn, tp = counts.T
    with np.errstate(divide="ignore", invalid="ignore"):
        total = tn + fp + fn + tp
        return np.column_stack(
            [(tp + fp) / total, tp / (tp + fn), fp / (fp + tn), tp / (tp + fp), (tp + tn) / total]
        )


def _num(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None  # JSON has no NaN
