"""The canary's statistics (common.experiment.sequential, .plan, .labelled, .fair): DeLong against sklearn and the
bootstrap, the mixture SPRT's error rate under any number of looks against the fixed-level rule's, the plan's
sizes, and the fair comparison set keeping trained-on customers out of the quality objective."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.experiment.fair import fair_rows, read_exclusion
from common.experiment.labelled import compare, replay_scores
from common.experiment.plan import make_plan
from common.experiment.sequential import (
    critical_estimate,
    delong_paired,
    delong_unpaired,
    delong_variance,
    evidence,
    power_at,
    rows_needed,
)


def _scored(rows: int, seed: int, shared: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(int)
    common = rng.normal(scale=math.sqrt(shared), size=rows) + 1.4 * y
    own = math.sqrt(1 - shared)
    return y, common + rng.normal(scale=own, size=rows), common + rng.normal(scale=own, size=rows)


def test_delong_gives_sklearns_aucs_and_the_bootstraps_variance() -> None:
    from sklearn.metrics import roc_auc_score

    y, a, b = _scored(1500, 1)
    found = delong_paired(y, a, b)
    assert found.stable == pytest.approx(roc_auc_score(y, a)) and found.candidate == pytest.approx(
        roc_auc_score(y, b)
    )
    rng = np.random.default_rng(2)
    diffs = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        diffs.append(roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]))
    assert found.variance == pytest.approx(np.var(diffs), rel=0.25)
    # paired: the shared noise cancels, so the difference varies far less than two independent AUCs would
    assert found.variance < 0.5 * (delong_variance(y, a)[1] + delong_variance(y, b)[1])
    assert delong_paired(y, a, a).variance == pytest.approx(0.0, abs=1e-12)  # the same scores: no difference


def test_ties_count_half_as_in_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    p = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.2, 0.3, 0.5])
    assert delong_variance(y, p)[0] == pytest.approx(roc_auc_score(y, p))


def test_the_mixture_sprt_keeps_its_error_rate_however_often_it_looks_and_the_fixed_test_does_not() -> None:
    """2,000 Gaussian walks under the null, looked at 50 times: the always-valid test rejects at most alpha of
    them; a one-sided 0.05 test at every look rejects several times that."""
    rng = np.random.default_rng(7)
    walks, looks, alpha = 2000, 50, 0.05
    steps = rng.normal(size=(walks, looks))
    sums, n = np.cumsum(steps, axis=1), np.arange(1, looks + 1)
    always = fixed = 0
    for w in range(walks):
        estimates, variances = sums[w] / n, 1.0 / n
        always += any(evidence(e, v, 0.3, alpha).reached for e, v in zip(estimates, variances, strict=True))
        fixed += any(e / math.sqrt(v) > 1.645 for e, v in zip(estimates, variances, strict=True))
    assert always / walks <= alpha
    assert fixed / walks > 3 * alpha


def test_the_plan_reaches_its_power_and_shadow_needs_fewer_customers_than_split() -> None:
    needed = rows_needed(0.5, 0.02, 0.02, 0.05, 0.8)
    assert power_at(needed, 0.5, 0.02, 0.02, 0.05) >= 0.8 > power_at(needed - 1, 0.5, 0.02, 0.02, 0.05)
    assert critical_estimate(0.5 / needed, 0.02, 0.05) < 0.02  # the boundary lies below the effect there
    assert rows_needed(0.0, 0.02, 0.02, 0.05, 0.8) == 1  # two versions that score alike: settled at once
    experiment = {
        "objectives": {"min_detectable_auc_drop": 0.02, "alpha": 0.05, "power": 0.8},
        "canary_percent": 10.0,
        "traffic": "replay",
        "replay": {"rate": 200.0},
        "interval_s": 5.0,
        "iterations": 6,
    }
    shadow = make_plan({**experiment, "mode": "shadow"}, 0.85, 0.27, 2000)
    split = make_plan({**experiment, "mode": "split"}, 0.85, 0.27, 2000)
    assert shadow.labelled_needed * 5 < split.labelled_needed
    assert split.enough is False and "too few, expect an inconclusive experiment" in split.said()
    assert shadow.requests_needed == shadow.labelled_needed and shadow.requests_planned == 6000
    assert shadow.seconds_needed == pytest.approx(shadow.labelled_needed / 200)


def test_customers_either_version_trained_on_never_count() -> None:
    """A candidate that memorised its training rows: perfect on them, a coin on the rest. With its training
    rows excluded, the comparison sees only the coin."""
    y, stable, _ = _scored(4000, 3)
    rng = np.random.default_rng(4)
    trained = set(range(2000))  # the candidate's training customers
    candidate = np.where(np.arange(4000) < 2000, y + 0.0, rng.random(4000))
    labels = {i: int(y[i]) for i in range(4000)}
    as_scores = {i: float(stable[i]) for i in range(4000)}, {i: float(candidate[i]) for i in range(4000)}
    everyone, _ = compare("shadow", *as_scores, labels, set(), 100)
    fair, _ = compare("shadow", *as_scores, labels, trained, 100)
    assert everyone is not None and fair is not None
    assert everyone.candidate > 0.7 and fair.candidate < 0.6 and fair.rows == 2000
    split, _ = compare("split", *as_scores, labels, trained, 100)
    assert split is not None and split.rows == 2000 + 2000  # each side on its own fair customers


def test_too_few_fair_labelled_customers_are_said_not_compared() -> None:
    labels = {i: i % 2 for i in range(50)}
    scores = {i: 0.5 for i in range(50)}
    found, said = compare("shadow", scores, scores, labels, set(range(40)), 100)
    assert found is None
    assert said == (
        "insufficient data: paired: 10 fair labelled customers, 5 positive (at least 100, and 10 of each class)"
    )
    unpaired, _ = compare("split", scores, {}, labels, set(), 10)
    assert unpaired is None


def test_replay_scores_take_each_customers_first_answer_of_that_version() -> None:
    responses = [
        {"id": 1, "version": "2", "status": 200, "p": 0.4, "label": 1},
        {"id": 1, "version": "2", "status": 200, "p": 0.9, "label": 1},  # replayed again: not counted twice
        {"id": 2, "version": "2", "status": 500, "p": None, "label": 0},
        {"id": 3, "version": "1", "status": 200, "p": 0.1, "label": 0},
    ]
    assert replay_scores(responses, "2") == {1: 0.4}


def test_the_exclusion_file_and_fair_rows(tmp_path: Path) -> None:
    path = tmp_path / "trained_ids.parquet"
    pd.DataFrame({"customer_id": [1, 2, 3]}).to_parquet(path)
    excluded = read_exclusion(str(path))
    assert excluded == {1, 2, 3} and read_exclusion(str(tmp_path / "absent.parquet")) == set()
    frame = pd.DataFrame({"customer_id": [1, 4, 5]})
    assert fair_rows(frame, "customer_id", excluded)["customer_id"].tolist() == [4, 5]


def test_unpaired_variances_add() -> None:
    y, a, b = _scored(1000, 5)
    found = delong_unpaired((y[:500], a[:500]), (y[500:], b[500:]))
    assert found.variance == pytest.approx(
        delong_variance(y[:500], a[:500])[1] + delong_variance(y[500:], b[500:])[1]
    )
