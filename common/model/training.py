"""The ML of the training pipeline as plain functions: split, candidate pipelines, CV, threshold, metrics, plots,
inference checks. KFP components call these; unit tests call them on tiny frames."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

PARALLEL_FOLDS_ROWS = 20_000
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")


def split(df: pd.DataFrame, target: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded split stratified on the label."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=df[target])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def at_most(df: pd.DataFrame, target: str, rows: int, seed: int) -> pd.DataFrame:
    """`df` whole when it has at most `rows` rows, else a seeded sample of `rows` stratified on the label: what
    the candidates' CV needs. Past a few hundred thousand rows their figures stop moving, and their cost does not."""
    if len(df) <= rows:
        return df
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(df, train_size=rows, random_state=seed, stratify=df[target])
    return kept.reset_index(drop=True)


def make_model(estimator: str, params: dict[str, Any], types: dict[str, str]) -> Pipeline:
    """Column transforms (impute + scale numbers, impute + one-hot strings) then the configured estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    module, _, name = estimator.rpartition(".")
    if not module.startswith("sklearn."):
        raise ValueError(f"estimator must be an sklearn class, got {estimator}")
    cls = getattr(importlib.import_module(module), name)
    numeric = [c for c, k in types.items() if k in ("float", "int")]
    strings = [c for c, k in types.items() if k == "string"]
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                strings,
            ),
        ]
    )
    return Pipeline([("columns", columns), ("model", cls(**params))])


def out_of_fold(model: Pipeline, x: pd.DataFrame, y: pd.Series, folds: int, seed: int) -> np.ndarray:
    """Churn probabilities of k-fold CV: each row scored by a model that never saw it."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # folds in parallel: most estimators fit on one core (LogisticRegression); on small data one process, as
    # starting joblib's workers (~1-2 s, once per process) costs more than the folds themselves
    jobs = min(folds, os.cpu_count() or 1) if len(x) >= PARALLEL_FOLDS_ROWS else 1
    return cross_val_predict(model, x, y, cv=cv, method="predict_proba", n_jobs=jobs)[:, 1]


def choose_threshold(
    y: pd.Series,
    proba: np.ndarray,
    setting: float | str,
    min_precision: float = 0.0,
    min_recall: float = 0.0,
    margin: float = 0.0,
) -> float:
    """The configured cut, or ("auto") the F1-best cut on out-of-fold probabilities among those that meet the
    precision and recall floors (the gate's) with `margin` to spare, else the floors alone, else the F1-best.

    The margin matters: F1 grows as precision falls, so the F1-best cut under a floor sits right on it, and the
    holdout would land on either side."""
    if setting != "auto":
        return float(setting)
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(y, proba)
    if not len(cuts):
        return 0.5
    precision, recall = precision[:-1], recall[:-1]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    for spare in (margin, 0.0):
        meets = (precision >= min_precision + spare) & (recall >= min_recall + spare)
        if meets.any():
            return float(cuts[int(np.argmax(np.where(meets, f1, -1.0)))])
    return float(cuts[int(np.argmax(f1))])


def reachable(
    y: pd.Series, proba: np.ndarray, min_precision: float = 0.0, min_recall: float = 0.0
) -> dict[str, Any]:
    """What any threshold can reach on these scores: the best precision that keeps recall at its floor, the best
    recall that keeps precision at its floor, the best F1, and whether one cut meets both floors. It tells a
    floor the model cannot meet from one the threshold missed."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, proba)
    precision, recall = precision[:-1], recall[:-1]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)

    def best(values: np.ndarray, keep: np.ndarray) -> float:
        return round(float(values[keep].max()), 4) if keep.any() else 0.0

    return {
        "precision": best(precision, recall >= min_recall),
        "recall": best(recall, precision >= min_precision),
        "f1": round(float(f1.max()), 4) if len(f1) else 0.0,
        "both_floors": bool(((precision >= min_precision) & (recall >= min_recall)).any()),
        "min_precision": min_precision,
        "min_recall": min_recall,
    }


def describe_reachable(threshold: float, best: dict[str, Any]) -> str:
    """One line for the gate's failure message."""
    both = "one threshold meets both floors" if best["both_floors"] else "no threshold meets both floors"
    return (
        f"decision threshold {threshold:.3f}; on this holdout any threshold reaches at best: precision "
        f"{best['precision']:.3f} (recall >= {best['min_recall']}), recall {best['recall']:.3f} "
        f"(precision >= {best['min_precision']}), F1 {best['f1']:.3f}; {both}"
    )


def for_serving(model: Pipeline) -> Pipeline:
    """One thread per prediction: joblib's dispatch costs ~30 ms on a one-row request."""
    if "n_jobs" in model.named_steps["model"].get_params():
        model.set_params(model__n_jobs=1)
    return model


def scores(y: pd.Series, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """Holdout metrics at `threshold`, and the confusion matrix."""
    from sklearn import metrics as m

    pred = (proba >= threshold).astype(int)
    tn, fp, fn, tp = m.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "accuracy": m.accuracy_score(y, pred),
        "precision": m.precision_score(y, pred, zero_division=0),
        "recall": m.recall_score(y, pred, zero_division=0),
        "f1": m.f1_score(y, pred, zero_division=0),
        "roc_auc": m.roc_auc_score(y, proba),
        "pr_auc": m.average_precision_score(y, proba),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def plots(y: pd.Series, proba: np.ndarray, threshold: float, out_dir: Path, title: str) -> list[Path]:
    """ROC, precision-recall and confusion-matrix plots as PNG files in `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for name, draw in (
        ("roc_curve", lambda ax: RocCurveDisplay.from_predictions(y, proba, ax=ax, name=title)),
        ("pr_curve", lambda ax: PrecisionRecallDisplay.from_predictions(y, proba, ax=ax, name=title)),
        (
            "confusion_matrix",
            lambda ax: ConfusionMatrixDisplay.from_predictions(
                y, (proba >= threshold).astype(int), ax=ax, display_labels=["stays", "churns"], colorbar=False
            ),
        ),
    ):
        fig, ax = plt.subplots(figsize=(5, 4))
        draw(ax)
        ax.set_title(f"{title}: {name.replace('_', ' ')}")
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png", dpi=90)
        plt.close(fig)
        made.append(out_dir / f"{name}.png")
    return made


def latency_ms(model: Any, row: pd.DataFrame, repeats: int = 30) -> float:
    """Median wall time of predict_proba on one row."""
    model.predict_proba(row)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(row)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def is_deterministic(model: Any, rows: pd.DataFrame) -> bool:
    """The same input twice gives the same output."""
    return bool(np.array_equal(model.predict_proba(rows), model.predict_proba(rows.copy())))


def check_candidates(candidates: list[Any]) -> None:
    """Each candidate (training.candidates) names an sklearn class that takes its params: a typo fails the
    config check in a second, not the training pipeline minutes in. Raises ConfigError naming the candidate."""
    from common.errors import ConfigError

    for i, candidate in enumerate(candidates):
        where = f"training.candidates[{i}] ({candidate.name})"
        module, _, name = candidate.estimator.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            raise ConfigError(f"{where}: {candidate.estimator} is not a class of scikit-learn") from None
        try:
            estimator = cls(**candidate.params)
            validate = getattr(estimator, "_validate_params", None)  # sklearn checks values when it fits
            if validate is not None:
                validate()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: params {candidate.params} refused: {exc}") from None
