"""The canary split's routing and the experiment's judgement (common.serving.routing, .experiment): the split
and its stickiness, PromQL's histogram_quantile, the two-proportion test on known counts, the objective table and
the decision with its failure limit."""

from __future__ import annotations

import math
import random

import pytest

from common.experiment.judgement import (
    FAIL,
    INSUFFICIENT,
    PASS,
    Window,
    auc_result,
    auc_standard_error,
    decide,
    evaluate,
    failed,
    histogram_quantile,
    iteration_status,
    two_proportion_p,
)
from common.serving.routing import CANDIDATE, arm, bucket
from common.settings import ObjectivesCfg


@pytest.mark.parametrize("percent", [10.0, 25.0, 50.0])
def test_sticky_routing_splits_customers_by_the_share_and_keeps_each_one_on_one_version(
    percent: float,
) -> None:
    ids = range(20_000)
    share = sum(arm(i, percent, "sticky") == CANDIDATE for i in ids) / 20_000 * 100
    assert abs(share - percent) < 1.0
    assert all(arm(i, percent, "sticky") == arm(i, percent, "sticky") for i in range(500))
    assert bucket("7590-VHVEG") == bucket("7590-VHVEG") and 0 <= bucket(12) < 10_000  # text ids too


def test_random_routing_draws_per_request() -> None:
    draw = random.Random(1)
    picks = [arm(1, 10.0, "random", draw) for _ in range(20_000)]
    assert abs(picks.count(CANDIDATE) / 200 - 10.0) < 1.0  # one customer, both versions


def test_histogram_quantile_interpolates_within_the_bucket_as_promql_does() -> None:
    buckets = [(0.005, 0.0), (0.01, 50.0), (0.025, 90.0), (0.05, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.0375)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert (
        histogram_quantile(0.99, [(0.1, 10.0), (math.inf, 20.0)]) == 0.1
    )  # in +Inf: the highest finite bound
    assert histogram_quantile(0.95, []) is None and histogram_quantile(0.95, [(math.inf, 0.0)]) is None


def test_two_proportion_test_on_known_counts() -> None:
    assert two_proportion_p(30, 100, 50, 100) == pytest.approx(0.00389, abs=1e-4)  # z = 2.887
    assert two_proportion_p(10, 100, 12, 100) == pytest.approx(0.6513, abs=1e-4)  # z = 0.452
    assert two_proportion_p(0, 0, 5, 10) == 1.0


def window(
    requests: int, errors: int = 0, slow: float = 0.0, positives: float = 0.2, slow_s: float = 0.2
) -> Window:
    """`requests` answered within 10 ms, but a share `slow` of them just under `slow_s` (0.2 or 0.5 s); a share
    `positives` predicted churn."""
    fast = requests * (1 - slow)
    latency = [(0.01, fast), (0.1, fast), (0.2, float(requests) if slow_s <= 0.2 else fast)]
    latency += [(0.5, float(requests)), (math.inf, float(requests))]
    return Window(requests, errors, requests, round(requests * positives), latency)


OBJ = ObjectivesCfg()


def _statuses(results: list) -> dict[tuple[str, str], str]:
    return {(r.version, r.objective): r.status for r in results}


def test_sound_versions_pass_every_objective() -> None:
    results = evaluate(window(1000), window(1000, positives=0.22), OBJ, 100)
    assert set(_statuses(results).values()) == {PASS} and iteration_status(results) == PASS
    assert len(results) == 7  # error rate, p95, p99 for each, and the gap


@pytest.mark.parametrize(
    ("candidate", "objective"),
    [
        (window(1000, errors=30), "error_rate"),
        (window(1000, slow=0.06), "latency_p95_ms"),  # p95 117 ms, p99 183 ms
        (window(1000, slow=0.02, slow_s=0.5), "latency_p99_ms"),  # p95 under 10 ms, p99 350 ms
        (window(1000, positives=0.5), "positive_rate_gap"),
    ],
)
def test_each_failure_is_named(candidate: Window, objective: str) -> None:
    results = evaluate(window(1000), candidate, OBJ, 100)
    assert [k for k, s in _statuses(results).items() if s == FAIL] == [("candidate", objective)]
    assert iteration_status(results) == FAIL
    (reason,) = failed(results)
    assert reason.startswith(f"candidate {objective} = ") and " over " in reason


def test_too_few_requests_are_not_judged_and_a_gap_must_be_significant() -> None:
    few = evaluate(window(1000), window(40, errors=10), OBJ, 100)
    assert {s for (v, _), s in _statuses(few).items() if v == "candidate"} == {INSUFFICIENT}
    assert iteration_status(few) == INSUFFICIENT
    assert "candidate error_rate: not judged (40 requests, fewer than 100)" in failed(few)
    # a gap of .14 against a band of .1: the excess is significant on 2,000 predictions each, not on 120
    sure = evaluate(window(2000, positives=0.2), window(2000, positives=0.34), OBJ, 100)
    assert _statuses(sure)[("candidate", "positive_rate_gap")] == FAIL
    unsure = evaluate(window(120, positives=0.2), window(120, positives=0.34), OBJ, 100)
    (gap,) = [r for r in unsure if r.objective == "positive_rate_gap"]
    assert gap.status == PASS and gap.detail == "over the band but not significant at 0.05 (p=0.231)"


def _scored(n: int, auc: float, seed: int) -> list[tuple[int, float]]:
    """n customers, a third churning, scored from two normal laws whose gap gives ROC AUC ~auc."""
    from statistics import NormalDist

    draw, gap = random.Random(seed), math.sqrt(2) * NormalDist().inv_cdf(auc)
    return [(label, draw.gauss(gap * label, 1.0)) for label in (int(i % 3 == 0) for i in range(n))]


def test_the_auc_objective_fails_only_a_significant_drop() -> None:
    good, bad = _scored(600, 0.95, 1), _scored(600, 0.55, 2)
    assert auc_result({"stable": good, "candidate": _scored(600, 0.95, 3)}, 0.01, 100, 0.05).status == PASS
    worse = auc_result({"stable": good, "candidate": bad}, 0.01, 100, 0.05)
    assert worse.status == FAIL and worse.value > 0.2
    noisy = auc_result(
        {"stable": good[:60], "candidate": _scored(60, 0.88, 10)}, 0.01, 50, 0.05
    )  # .971 vs .935
    assert noisy.status == PASS and "over the tolerance but not significant" in noisy.detail
    few = auc_result({"stable": good[:30], "candidate": bad[:30]}, 0.01, 50, 0.05)
    assert few.status == INSUFFICIENT and few.detail == "stable: 30 labelled answers, 10 positive"
    assert auc_standard_error(0.9, 30, 70) == pytest.approx(0.0395, abs=1e-3)


def test_the_decision_and_the_failure_limit() -> None:
    assert decide([FAIL, FAIL], failure_limit=2, final=False) == "rollback"  # early
    assert decide([FAIL, PASS, FAIL], failure_limit=2, final=False) is None  # not in a row
    assert decide([INSUFFICIENT, PASS], failure_limit=2, final=True) == "promote"
    assert decide([PASS, INSUFFICIENT], failure_limit=2, final=True) == "rollback"  # never judged at the end
    assert decide([], failure_limit=1, final=True) == "rollback"


def test_a_window_since_the_experiment_began() -> None:
    later = window(300, errors=3).minus(window(100, errors=1))
    assert (later.requests, later.errors) == (200, 2) and later.latency[-1] == (math.inf, 200.0)
