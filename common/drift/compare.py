"""The comparisons of a drift check: Evidently's DataDriftPreset over the dataset's columns, the churn
probability's drift against the champion's holdout predictions, and ROC AUC / recall on labelled rows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from common.settings import DatasetCfg

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)
PROBABILITY = "churn_probability"
JUDGED = ("roc_auc", "recall")  # the metrics whose fall on labelled rows can call for a retrain
# Per column: a two-sample test for the p-value and PSI for the effect. Evidently's "chisquare" is a
# goodness-of-fit test that takes the reference's shares as exact, too eager when the reference is not much larger
# than the window; HOMOGENEITY, registered with Evidently, is the 2 x k contingency test that counts both samples.
NUM_TEST, EFFECT, HOMOGENEITY = "ks", "psi", "chi2_homogeneity"


def data_drift(
    reference: pd.DataFrame, current: pd.DataFrame, ds: DatasetCfg, share: float
) -> tuple[Any, list[dict[str, Any]], float]:
    """Evidently's DataDriftPreset on the dataset's columns: (the snapshot, per column {column, method,
    threshold, score, detected}, the drifted share). Detection is Evidently's own test verdict per column."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [*ds.numeric, *ds.categorical]
    definition = DataDefinition(numerical_columns=list(ds.numeric), categorical_columns=list(ds.categorical))
    snapshot = Report([DataDriftPreset(columns=columns, drift_share=share)], include_tests=True).run(
        current_data=Dataset.from_pandas(_typed(current, ds), data_definition=definition),
        reference_data=Dataset.from_pandas(_typed(reference, ds), data_definition=definition),
    )
    found = _columns(snapshot.dict())
    drifted_share = sum(c["detected"] for c in found) / len(found) if found else 0.0
    return snapshot, found, drifted_share


def column_tests(
    reference: pd.DataFrame, current: pd.DataFrame, ds: DatasetCfg
) -> tuple[Any, list[dict[str, Any]]]:
    """Per column, with Evidently's ValueDrift: the two-sample test's p-value (K-S for numbers, chi-square
    homogeneity for categories) and PSI, the effect size. (The snapshot, [{column, test, p_value, effect_method,
    effect}]); the verdicts are ours (common.drift.statistics.judge_columns)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    register_homogeneity()
    kinds = {**{c: NUM_TEST for c in ds.numeric}, **{c: HOMOGENEITY for c in ds.categorical}}
    metrics = [ValueDrift(column=c, method=m) for c, m in kinds.items()]
    metrics += [ValueDrift(column=c, method=EFFECT) for c in kinds]
    definition = DataDefinition(numerical_columns=list(ds.numeric), categorical_columns=list(ds.categorical))
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(_typed(current, ds), data_definition=definition),
        reference_data=Dataset.from_pandas(_typed(reference, ds), data_definition=definition),
    )
    scores = {(c["column"], c["method"]): c["score"] for c in _columns(snapshot.dict())}
    found = [
        {
            "column": c,
            "test": m,
            "p_value": scores[(c, m)],
            "effect_method": EFFECT,
            "effect": scores[(c, EFFECT)],
        }
        for c, m in kinds.items()
    ]
    return snapshot, found


def register_homogeneity() -> None:
    """Make HOMOGENEITY a method Evidently knows (once per process): the chi-square test of homogeneity on the
    two samples' counts per category (scipy's chi2_contingency), its p-value the score."""
    from evidently.legacy.calculations.stattests.registry import (
        StatTest,
        StatTestNotFoundError,
        get_registered_stattest,
        register_stattest,
    )
    from evidently.legacy.core import ColumnType

    try:
        get_registered_stattest(HOMOGENEITY, ColumnType.Categorical)
    except StatTestNotFoundError:  # the first use in this process
        test = StatTest(
            name=HOMOGENEITY,
            display_name="chi-square homogeneity p_value",
            allowed_feature_types=[ColumnType.Categorical],
            default_threshold=0.05,
        )
        register_stattest(test, default_impl=_homogeneity)


def _homogeneity(
    reference: pd.Series, current: pd.Series, _kind: Any, threshold: float
) -> tuple[float, bool]:
    p = homogeneity_p(reference, current)
    return p, p < threshold


def homogeneity_p(reference: pd.Series, current: pd.Series) -> float:
    """The chi-square homogeneity test's p-value for two samples of one categorical column; 1.0 when both hold
    a single category (nothing can differ)."""
    import pandas as pd
    from scipy.stats import chi2_contingency

    table = (
        pd.concat([reference.value_counts(), current.value_counts()], axis=1).fillna(0).to_numpy(dtype=float)
    )
    if table.shape[0] < 2:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def prediction_drift(holdout: np.ndarray, current: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """The churn probability now against the champion's holdout predictions: (snapshot, {method, threshold,
    score, detected})."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(numerical_columns=[PROBABILITY])
    snapshot = Report([ValueDrift(column=PROBABILITY)], include_tests=True).run(
        current_data=Dataset.from_pandas(pd.DataFrame({PROBABILITY: current}), data_definition=definition),
        reference_data=Dataset.from_pandas(pd.DataFrame({PROBABILITY: holdout}), data_definition=definition),
    )
    return snapshot, _columns(snapshot.dict())[0]


def performance(
    labels: np.ndarray, proba: np.ndarray, threshold: float, holdout: dict[str, float], min_rows: int
) -> tuple[dict[str, float], dict[str, float]]:
    """(ROC AUC and recall on the labelled rows, each one's fall below the holdout's figure); both empty when
    there are too few labels or one class only."""
    from sklearn.metrics import recall_score, roc_auc_score

    if len(labels) < min_rows or len(set(labels.tolist())) < 2:
        return {}, {}
    now = {
        "roc_auc": float(roc_auc_score(labels, proba)),
        "recall": float(recall_score(labels, (proba >= threshold).astype(int), zero_division=0)),
    }
    drops = {m: round(holdout[m] - now[m], 4) for m in JUDGED if m in holdout}
    return now, drops


def _typed(df: pd.DataFrame, ds: DatasetCfg) -> pd.DataFrame:
    """The dataset's columns, numbers as floats and categories as text: the log and the extract agree."""
    out = df[[*ds.numeric, *ds.categorical]].copy()
    out[list(ds.numeric)] = out[list(ds.numeric)].astype("float64")
    for name in ds.categorical:
        out[name] = out[name].astype("string")
    return out


def _columns(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per column drift from a snapshot's dict: ValueDrift metrics, and their tests' PASS/FAIL verdicts."""
    verdicts = {
        t["metric_config"]["metric_id"]: t["status"]
        for t in result.get("tests", [])
        if t["metric_config"]["params"].get("type") == "evidently:metric_v2:ValueDrift"
    }
    found = []
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        found.append(
            {
                "column": config["column"],
                "method": config["method"],
                "threshold": config["threshold"],
                "score": float(metric["value"]),
                "detected": verdicts.get(metric["id"]) == "FAIL",
            }
        )
    return found
