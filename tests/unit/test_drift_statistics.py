"""UC3's statistics: Benjamini-Hochberg, the per-column rule with its effect floor, the calibration error and
CBPE's estimate, and the two rules they feed (columns, estimated_performance)."""

from typing import Any

import numpy as np
import pytest

from common.drift.decision import NONE, RETRAIN, Findings, decide
from common.drift.statistics import bh_adjust, cbpe, estimate, expected_calibration_error, judge_columns
from common.settings import DriftCfg


def test_bh_matches_a_hand_worked_example() -> None:
    # sorted 0.04, 0.045, 0.5, 0.6 (m = 4) scale to 0.16, 0.09, 0.667, 0.6; the step-up takes the minimum
    # from the top: 0.09, 0.09, 0.6, 0.6 (the smallest p borrows its neighbour's smaller figure)
    assert bh_adjust([0.5, 0.04, 0.6, 0.045]) == pytest.approx([0.6, 0.09, 0.6, 0.09])
    # 0.005, 0.01, 0.03, 0.04 scale to 0.02, 0.02, 0.04, 0.04
    assert bh_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert bh_adjust([]) == []


def test_bh_agrees_with_statsmodels_and_scipy() -> None:
    from scipy.stats import false_discovery_control

    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(11)
    for m in (1, 3, 12, 40):
        p = rng.uniform(size=m) ** 3  # some small, some large, ties unlikely
        p[: m // 4] = p[0]  # and a few ties
        ours = bh_adjust(p)
        assert ours == pytest.approx(multipletests(p, method="fdr_bh")[1], abs=1e-12)
        assert ours == pytest.approx(false_discovery_control(p, method="bh"), abs=1e-12)


def test_bh_refuses_what_is_not_a_p_value() -> None:
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\], got \[0.2, 1.5\]"):
        bh_adjust([0.2, 1.5])


def _tests(*rows: tuple[str, float, float]) -> list[dict[str, Any]]:
    return [{"column": c, "p_value": p, "effect": e, "effect_method": "psi"} for c, p, e in rows]


def test_a_column_counts_only_when_significant_after_correction_and_large_enough() -> None:
    judged = judge_columns(
        _tests(("big", 1e-9, 0.4), ("tiny", 1e-6, 0.01), ("lone", 0.04, 0.3), ("calm", 0.7, 0.02)), 0.05, 0.1
    )
    by = {t["column"]: t for t in judged}
    assert by["big"]["drifted"] and not by["tiny"]["drifted"]  # significant, under the floor
    # raw p under 0.05, but the third smallest of four: 0.04 * 4 / 3 after correction
    assert by["lone"]["p_value"] < 0.05 < by["lone"]["p_adjusted"] and not by["lone"]["drifted"]
    assert by["lone"]["p_adjusted"] == pytest.approx(0.04 * 4 / 3)


def test_the_columns_rule_names_the_columns_their_adjusted_p_and_effect() -> None:
    judged = judge_columns(
        _tests(("age", 1e-9, 0.4), ("tenure", 1e-6, 0.01), ("region", 0.7, 0.0)), 0.05, 0.1
    )
    fired = decide(Findings(2000, 0.0, [], 3, tested=judged), DriftCfg(), None)
    assert fired.decision == RETRAIN and fired.fired == ["columns"]
    assert (
        "1 of 3 columns drifted at FDR drift.fdr 0.05 with PSI >= drift.min_effect 0.1: age (adjusted p "
        in (fired.reasons[0])
    )
    assert "PSI 0.400" in fired.reasons[0]
    floor = judge_columns(_tests(("age", 1e-9, 0.05), ("tenure", 1e-6, 0.01)), 0.05, 0.1)
    calm = decide(Findings(2000, 0.0, [], 2, tested=floor), DriftCfg(), None)
    assert calm.decision == NONE and calm.fired == []
    assert any(
        "significant but under the floor: age (adjusted p 2e-09, PSI 0.050)" in r for r in calm.reasons
    )


def test_evidently_finds_a_tiny_shift_significant_and_the_floor_keeps_it_out() -> None:
    """200,000 rows: a 0.03-sd shift has a K-S p-value near zero, but its PSI is far under 0.1; a real move of
    one category's share passes both. Evidently computes the tests; the verdict is ours."""
    import pandas as pd

    from common.drift.compare import column_tests
    from common.settings import DatasetCfg

    rng = np.random.default_rng(5)
    n, ds = 200_000, DatasetCfg(numeric=["x", "still"], categorical=["plan"], expectations={})
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, n), "still": rng.normal(0, 1, n), "plan": rng.choice(["a", "b"], n)}
    )
    current = pd.DataFrame(
        {
            "x": rng.normal(0.03, 1, n),
            "still": rng.normal(0, 1, n),
            "plan": rng.choice(["a", "b"], n, p=[0.75, 0.25]),
        }
    )
    _, tests = column_tests(reference, current, ds)
    by = {t["column"]: t for t in judge_columns(tests, 0.05, 0.1)}
    assert by["x"]["test"] == "ks" and by["plan"]["test"] == "chi2_homogeneity"
    assert by["x"]["p_adjusted"] < 1e-10 and by["x"]["effect"] < 0.01 and not by["x"]["drifted"]
    assert by["plan"]["drifted"] and by["plan"]["effect"] > 0.1
    assert by["still"]["p_adjusted"] > 0.05 and not by["still"]["drifted"]


def test_the_homogeneity_test_counts_both_samples() -> None:
    """Equal shares in two samples of the same size: no evidence at all (Evidently's chisquare takes the
    reference's counts as exact expectations, ours does not)."""
    import pandas as pd
    from scipy.stats import chi2_contingency

    from common.drift.compare import homogeneity_p

    reference = pd.Series(["a"] * 60 + ["b"] * 40)
    current = pd.Series(["a"] * 50 + ["b"] * 50)
    expected = chi2_contingency([[60, 50], [40, 50]], correction=False).pvalue
    assert homogeneity_p(reference, current) == pytest.approx(expected)
    assert homogeneity_p(pd.Series(["a"] * 5), pd.Series(["a"] * 9)) == 1.0


def test_ece_and_cbpe_on_hand_worked_figures() -> None:
    # bins 1, 1, 8, 9: |1 - 0.25| + |1 - 0.85| + |0 - 0.9| = 1.8 over 4 rows
    assert expected_calibration_error(
        np.array([0, 1, 1, 0]), np.array([0.1, 0.15, 0.85, 0.9])
    ) == pytest.approx(0.45)
    found = cbpe(np.array([0.9, 0.6, 0.2]), 0.5)
    # flagged 0.9 and 0.6: TP 1.5, FP 0.5; FN 0.2. AUC by weighted pairs (ties half): 1.805 / (1.7 * 1.3)
    assert found["precision"] == pytest.approx(0.75) and found["recall"] == pytest.approx(1.5 / 1.7)
    assert found["roc_auc"] == pytest.approx(1.805 / (1.7 * 1.3))


def _calibrated(n: int, seed: int, spread: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(spread * rng.normal(size=n) - 1)))
    return (rng.random(n) < p).astype(int), p  # labels drawn from p: calibrated by construction


def test_cbpe_is_close_to_the_realized_figures_when_calibrated() -> None:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    labels, p = _calibrated(20_000, 1)
    found = cbpe(p, 0.4)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(labels, p), abs=0.01)
    assert found["precision"] == pytest.approx(precision_score(labels, p >= 0.4), abs=0.015)
    assert found["recall"] == pytest.approx(recall_score(labels, p >= 0.4), abs=0.015)
    assert expected_calibration_error(labels, p) < 0.02


def _estimated(seed: int, holdout: tuple[np.ndarray, np.ndarray], spread: float) -> dict[str, Any]:
    _, now = _calibrated(5000, seed, spread)
    return estimate(now, 0.4, holdout, 0.862)


def test_an_estimated_drop_retrains_by_its_own_rule() -> None:
    labels, p = _calibrated(5000, 2)
    flat = _estimated(3, (labels, p), spread=0.8)  # scores bunch up: the model separates customers less
    assert flat["auc_drop"] > 0.1 and flat["calibration_error"] < 0.05
    decision = decide(Findings(5000, 0.0, [], 12, estimate=flat), DriftCfg(), None)
    assert decision.decision == RETRAIN and decision.fired == ["estimated_performance"]
    assert (
        f"ROC AUC estimated without labels (CBPE, 5000 rows) is {flat['estimated']['roc_auc']:.3f}"
        in (decision.reasons[0])
    )
    assert "more than drift.max_estimated_auc_drop 0.05" in decision.reasons[0]
    same = _estimated(4, (labels, p), spread=2.0)
    calm = decide(Findings(5000, 0.0, [], 12, estimate=same), DriftCfg(), None)
    assert calm.decision == NONE and any("within drift.max_estimated_auc_drop" in r for r in calm.reasons)


def test_a_miscalibrated_holdout_makes_the_estimate_untrustworthy() -> None:
    labels, p = _calibrated(5000, 2)
    overconfident = np.clip(p * 1.6, 0, 1)  # what class_weight=balanced does to a forest's scores, roughly
    flat = _estimated(3, (labels, overconfident), spread=0.8)
    assert flat["calibration_error"] > 0.05 and flat["auc_drop"] > 0.05
    decision = decide(Findings(5000, 0.0, [], 12, estimate=flat), DriftCfg(), None)
    assert decision.decision == NONE and decision.fired == []
    assert any(
        "not trustworthy, the holdout's calibration error" in r and "> drift.max_calibration_error 0.05" in r
        for r in decision.reasons
    )


def test_the_estimate_and_the_adjusted_p_values_reach_prometheus() -> None:
    from prometheus_client import generate_latest

    from common.drift.outputs import metrics_registry

    labels, p = _calibrated(2000, 5)
    found = {**_estimated(6, (labels, p), 2.0), "realized_roc_auc": 0.851}
    tested = judge_columns(_tests(("age", 1e-9, 0.4)), 0.05, 0.1)
    summary = {
        "model": {"name": "m", "version": "3"},
        "share": 0.0,
        "columns": [],
        "fdr": {"columns": tested},
        "estimated_performance": found,
        "rows": {"compared": 10, "current": 10, "reference": 10},
        "decision": "retrain",
        "checked_at": "2026-06-01T12:00:00+00:00",
    }
    text = generate_latest(metrics_registry(summary)).decode()
    auc = found["estimated"]["roc_auc"]
    assert f'mlops_drift_estimated_roc_auc{{model_name="m",version="3"}} {auc}' in text
    assert 'mlops_drift_realized_roc_auc{model_name="m",version="3"} 0.851' in text
    assert 'mlops_drift_column_fdr_drifted{column="age",model_name="m",version="3"} 1.0' in text
