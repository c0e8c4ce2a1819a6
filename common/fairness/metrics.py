"""Group fairness metrics, pure: fairlearn's MetricFrame per sensitive feature, the parity differences and
ratios, and bootstrap intervals computed from weighted confusion counts (every feature of a round shares one
resample, so 200 rounds over 100k rows take seconds, where MetricFrame's own n_boot recomputes everything)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from common.progress import track

GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy")
DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference")


def confusion(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
    """[TN, FP, FN, TP] per group, grouped by fairlearn's MetricFrame. One counting metric, not one per rate:
    MetricFrame pays ~70 ms per metric and group on 100k rows, whatever the metric."""
    from fairlearn.metrics import MetricFrame

    def counts(t: Any, p: Any) -> np.ndarray:
        return np.bincount(np.asarray(t, dtype=np.int64) * 2 + np.asarray(p, dtype=np.int64), minlength=4)

    frame = MetricFrame(metrics={"counts": counts}, y_true=y, y_pred=pred, sensitive_features=groups)
    return {str(g): np.asarray(c, dtype=np.float64) for g, c in frame.by_group["counts"].items()}


def by_group(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per group: count and GROUP_METRICS (fairlearn's definitions; tests hold them to fairlearn's values)."""
    table = {}
    for group, counts in confusion(y, pred, groups).items():
        rates = _rates(counts.reshape(1, 4))[0]
        table[group] = {
            "count": float(counts.sum()),
            **{m: _num(rates[i]) for i, m in enumerate(GROUP_METRICS)},
        }
    return table


def disparities_of(table: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """fairlearn's definitions over the groups of `table`: the demographic parity difference and ratio are the
    selection rate's between-group difference and ratio; the equalized odds difference is the larger of TPR's
    and FPR's between-group differences."""

    def spread(metric: str) -> tuple[float, float] | None:
        # a group with no positives (or negatives) has TPR (or FPR) 0 to fairlearn, not "undefined"
        values = [0.0 if (v := row[metric]) is None else float(v) for row in table.values()]
        return (min(values), max(values)) if values else None

    rate, tpr, fpr = spread("selection_rate"), spread("tpr"), spread("fpr")
    odds = [hi - lo for found in (tpr, fpr) if found for lo, hi in [found]]
    return {
        "demographic_parity_difference": None if rate is None else _num(rate[1] - rate[0]),
        "demographic_parity_ratio": None if rate is None or rate[1] == 0 else _num(rate[0] / rate[1]),
        "equalized_odds_difference": _num(max(odds)) if odds else None,
    }


def disparities(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    return disparities_of(by_group(y, pred, groups))


def bootstrap(
    y: np.ndarray,
    pred: np.ndarray,
    features: dict[str, np.ndarray],
    rounds: int,
    seed: int,
    quantiles: tuple[float, float] = (0.025, 0.975),
    judged: dict[str, list[str]] | None = None,
) -> dict[str, dict[str, dict[str, list[float | None]]]]:
    """Percentile intervals of GROUP_METRICS per feature and group, from `rounds` resamples of all rows with
    replacement (a resample is a weight per row: how often it was drawn); and under the key DISPARITY_KEY of each
    feature, the DISPARITIES' intervals over the groups `judged` names (all by default), from the same resamples."""
    n = len(y)
    cell = (np.asarray(y, dtype=np.int64) * 2 + np.asarray(pred, dtype=np.int64)).astype(np.int64)
    coded = {name: np.unique(values.astype(str), return_inverse=True) for name, values in features.items()}
    draws: dict[str, list[np.ndarray]] = {name: [] for name in features}
    rng = np.random.default_rng(seed)
    for _ in track(range(rounds), "fairness bootstrap", unit="rounds"):
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        for name, (labels, codes) in coded.items():
            counts = np.bincount(codes * 4 + cell, weights=weights, minlength=len(labels) * 4)
            draws[name].append(_rates(counts.reshape(len(labels), 4)))
    out: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    for name, (labels, _) in coded.items():
        stacked = np.stack(draws[name])  # rounds x groups x metrics
        # a small group some resamples never draw: NaN there, left out; one never drawn has no interval
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanquantile(stacked, quantiles, axis=0)
        out[name] = {
            str(g): {m: [_num(low[i, j]), _num(high[i, j])] for j, m in enumerate(GROUP_METRICS)}
            for i, g in enumerate(labels)
        }
        keep = [i for i, g in enumerate(labels) if judged is None or str(g) in judged.get(name, [])]
        spread = np.array([_spread(rates[keep]) for rates in stacked]) if keep else np.empty((0, 3))
        whole = _spread(
            _rates(np.bincount(coded[name][1] * 4 + cell, minlength=len(labels) * 4).reshape(-1, 4))[keep]
        )
        out[name][DISPARITY_KEY] = {
            d: _basic(whole[k], spread[:, k], quantiles) for k, d in enumerate(DISPARITIES)
        }
    return out


DISPARITY_KEY = "(disparities)"  # not a group label: groups_of names missing values "(missing)", never this


def _spread(rates: np.ndarray) -> tuple[float, float, float]:
    """DISPARITIES of one resample from its (groups x GROUP_METRICS) rates, as disparities_of defines them."""
    selection, tpr, fpr = rates[:, 0], np.nan_to_num(rates[:, 1]), np.nan_to_num(rates[:, 2])
    with np.errstate(all="ignore"):
        low, high = np.nanmin(selection), np.nanmax(selection)
        ratio = low / high if high > 0 else np.nan
    return high - low, ratio, max(np.ptp(tpr), np.ptp(fpr))


def _basic(estimate: float, values: np.ndarray, quantiles: tuple[float, float]) -> list[float | None]:
    """The basic bootstrap interval, 2 x estimate - the resamples' percentiles, within [0, 1]. A disparity is a
    spread between groups (max - min, min / max): a resample's noisy rates spread further than the data's, so the
    resamples' percentiles sit to one side of the estimate, and the basic interval takes that bias back."""
    values = values[np.isfinite(values)]
    if len(values) == 0 or not np.isfinite(estimate):
        return [None, None]
    low, high = np.quantile(values, quantiles)
    return [_num(np.clip(2 * estimate - high, 0, 1)), _num(np.clip(2 * estimate - low, 0, 1))]


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
