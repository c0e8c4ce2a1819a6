"""The statistics behind UC3's rules, pure: Benjamini-Hochberg across a check's columns, the columns that drifted
both significantly and materially, the expected calibration error, and confidence-based performance estimation
(CBPE: the champion's own probabilities, read as the chance each customer churns, estimate its metrics before any
label arrives)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ECE_BINS = 10


def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the input's order: the i-th smallest p times m / i, made
    monotone from the largest down and capped at 1. A column is a discovery at FDR q when its adjusted p <= q."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]  # the step-up: no adjusted p above a larger one's
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def judge_columns(tests: list[dict[str, Any]], fdr: float, min_effect: float) -> list[dict[str, Any]]:
    """Each column's test ({column, p_value, effect, ...}) with `p_adjusted` (BH over all of them) and `drifted`:
    adjusted p <= `fdr` AND effect >= `min_effect`. Significance alone grows cheap with the sample; the floor
    keeps a trivial shift from counting."""
    adjusted = bh_adjust([t["p_value"] for t in tests])
    return [
        {**t, "p_adjusted": a, "drifted": bool(a <= fdr and t["effect"] >= min_effect)}
        for t, a in zip(tests, adjusted, strict=True)
    ]


def expected_calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over `bins` equal-width probability bins: the rows' share in each bin times the gap between the
    bin's mean probability and its churn rate, summed."""
    y, p = np.asarray(labels, dtype=float), np.asarray(proba, dtype=float)
    if y.size == 0:
        raise ValueError("no rows to measure calibration on")
    which = np.minimum((p * bins).astype(int), bins - 1)  # p = 1.0 falls in the last bin
    gap = np.abs(np.bincount(which, y, bins) - np.bincount(which, p, bins))  # per bin: |sum y - sum p|
    return float(gap.sum() / y.size)


def cbpe(proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Estimated precision, recall and ROC AUC from calibrated probabilities alone. Each row is a churner with
    weight p and a stayer with weight 1 - p: the expected confusion matrix at `threshold` gives precision and
    recall, the weighted ROC AUC of the duplicated rows the AUC."""
    from sklearn.metrics import roc_auc_score

    p = np.asarray(proba, dtype=float)
    if p.size == 0:
        raise ValueError("no probabilities to estimate from")
    flagged = p >= threshold
    tp, fp = p[flagged].sum(), (1 - p[flagged]).sum()
    fn = p[~flagged].sum()
    both = np.concatenate([p, p])
    labels = np.concatenate([np.ones(p.size), np.zeros(p.size)])
    auc = roc_auc_score(labels, both, sample_weight=np.concatenate([p, 1 - p]))
    return {
        "precision": float(tp / (tp + fp)) if tp + fp > 0 else 0.0,
        "recall": float(tp / (tp + fn)) if tp + fn > 0 else 0.0,
        "roc_auc": float(auc),
    }


def estimate(
    proba: np.ndarray, threshold: float, holdout: tuple[np.ndarray, np.ndarray], holdout_auc: float
) -> dict[str, Any]:
    """CBPE on the current probabilities, with the holdout's (labels, probabilities) ECE that says whether to
    trust it and the estimated ROC AUC's drop below `holdout_auc`."""
    estimated = cbpe(proba, threshold)
    return {
        "method": "CBPE",
        "rows": int(np.asarray(proba).size),
        "estimated": {k: round(v, 4) for k, v in estimated.items()},
        "holdout_roc_auc": round(holdout_auc, 4),
        "auc_drop": round(holdout_auc - estimated["roc_auc"], 4),
        "calibration_error": round(expected_calibration_error(*holdout), 4),
        "calibration_rows": int(np.asarray(holdout[0]).size),
    }
