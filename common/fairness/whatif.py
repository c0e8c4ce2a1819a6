"""What the What-If Tool showed interactively, as static results: ROC curves and selection rate against the
threshold per group (PNG), the per-group thresholds that would equalize TPR (fairlearn's ThresholdOptimizer, for
information only: nothing is applied), and the counterfactual flip rate of a sensitive attribute."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common.settings import DatasetCfg, FeaturesCfg

Scorer = Callable[[Any], np.ndarray]  # model features (a DataFrame) -> churn probabilities


def plots(y: np.ndarray, proba: np.ndarray, groups: np.ndarray, name: str, out_dir: Path) -> list[Path]:
    """roc_<name>.png and selection_<name>.png: one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    cuts = np.linspace(0, 1, 101)
    roc, roc_ax = plt.subplots(figsize=(5, 4))
    sel, sel_ax = plt.subplots(figsize=(5, 4))
    for group in sorted(set(groups.astype(str))):
        inside = groups.astype(str) == group
        if len(set(y[inside].tolist())) == 2:
            fpr, tpr, _ = roc_curve(y[inside], proba[inside])
            roc_ax.plot(fpr, tpr, label=group)
        sel_ax.plot(cuts, [(proba[inside] >= c).mean() for c in cuts], label=group)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC by {name}")
    sel_ax.set(xlabel="decision threshold", ylabel="selection rate", title=f"Selection rate by {name}")
    paths = []
    for fig, ax, stem in ((roc, roc_ax, "roc"), (sel, sel_ax, "selection")):
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(out_dir / f"{stem}_{name}.png")
        fig.savefig(paths[-1], dpi=80)
        plt.close(fig)
    return paths


def equal_tpr_thresholds(y: np.ndarray, proba: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """ThresholdOptimizer under true-positive-rate parity on the model's probabilities: per group the
    thresholds it would use (and how often each). Information for a person; never applied."""
    import pandas as pd
    from fairlearn.postprocessing import ThresholdOptimizer

    scores = pd.DataFrame({"churn_probability": proba})
    optimizer = ThresholdOptimizer(
        estimator=_probabilities().fit(scores, y),
        constraints="true_positive_rate_parity",
        objective="balanced_accuracy_score",
        predict_method="predict_proba",
        prefit=True,
    )
    try:
        optimizer.fit(scores, y, sensitive_features=groups.astype(str))
    except ValueError as exc:  # a group with one class, or no rows to judge: nothing to equalize
        return {"not computable": [{"reason": str(exc).splitlines()[0]}]}
    out = {}
    for group, mix in optimizer.interpolated_thresholder_.interpolation_dict.items():
        parts = [(float(mix[f"p{i}"]), mix[f"operation{i}"]) for i in (0, 1)]
        out[str(group)] = [
            {"threshold": round(float(op.threshold), 4), "operator": op.operator, "share": round(p, 4)}
            for p, op in parts
            if p > 0
        ]
    return out


def _probabilities() -> Any:
    """A prefit "estimator" whose input is already the probability: ThresholdOptimizer asks for one."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Probabilities(ClassifierMixin, BaseEstimator):
        def fit(self, x: Any, y: Any) -> Any:
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, x: Any) -> np.ndarray:
            p = np.asarray(x, dtype=float)[:, 0]
            return np.column_stack([1 - p, p])

        def predict(self, x: Any) -> np.ndarray:
            return (np.asarray(x, dtype=float)[:, 0] >= 0.5).astype(int)

    return Probabilities()


def flip_rate(
    rows: Any,
    feature: str,
    score: Scorer,
    threshold: float,
    ds: DatasetCfg,
    fcfg: FeaturesCfg,
) -> float:
    """The share of rows whose prediction changes when only `feature` is changed to another of its values (a
    derived bin by moving its source column into another bin), everything derived from it recomputed."""
    base = score(rows) >= threshold
    flipped = np.zeros(len(rows), dtype=bool)
    for changed in _alternatives(rows, feature, ds, fcfg):
        flipped |= (score(changed) >= threshold) != base
    return round(float(flipped.mean()), 6) if len(rows) else 0.0


def _alternatives(rows: Any, feature: str, ds: DatasetCfg, fcfg: FeaturesCfg) -> list[Any]:
    """A copy of `rows` per other value of the feature, with the derived features recomputed. A derived bin
    moves its source column to the median of another bin's rows, only in rows of another bin: a row's own bin
    is left as it is, so no flip comes from moving within a group. A flag is set to the other value."""
    from common.features.engineering import derive

    declared = next((d for d in fcfg.derived if d.name == feature), None)
    if declared is not None and declared.bins and declared.column:
        source = rows[declared.column]
        moves = [  # the median of the bin's own rows: a value people of that group have
            (declared.column, float(source[rows[feature].astype(str) == label].median()), label)
            for label in declared.labels or []
            if (rows[feature].astype(str) == label).any()
        ]
    else:
        moves = [(feature, value, value) for value in sorted(set(rows[feature].dropna()))]
    flag = declared is not None and declared.flag is not None
    out = []
    for column, value, group in moves:
        changed = rows.copy()
        elsewhere = (rows[feature].astype(str) != str(group)).to_numpy()
        changed.loc[elsewhere, column] = value
        raw = {c: changed[c].to_numpy() for c in [*ds.numeric, *ds.categorical]}
        for name, derived in derive(raw, fcfg).items():
            if not (flag and name == feature):  # a flag is set as asked: derive would compute it back
                changed[name] = derived
        out.append(changed)
    return out
