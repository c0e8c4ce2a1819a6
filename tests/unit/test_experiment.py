"""The canary split's routing and the experiment's judgement (common.serving.routing, .experiment): the split
and its stickiness, PromQL's histogram_quantile, the objective table,
the always-valid quality claims, and the decision with its failure limit."""

from __future__ import annotations

import math
import random

import pytest

from common.experiment.judgement import (
    FAIL,
    INSUFFICIENT,
    PASS,
    Result,
    Sequential,
    Window,
    auc_standard_error,
    decide,
    evaluate,
    failed,
    histogram_quantile,
    iteration_status,
    quality_result,
)
from common.experiment.sequential import Aucs
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


def test_too_few_requests_are_not_judged_and_a_gap_must_be_shown_past_the_band() -> None:
    few = evaluate(window(1000), window(40, errors=10), OBJ, 100)
    assert {s for (v, _), s in _statuses(few).items() if v == "candidate"} == {INSUFFICIENT}
    assert iteration_status(few) == INSUFFICIENT
    assert "candidate error_rate: not judged (40 requests, fewer than 100)" in failed(few)
    # a gap of .14 against a band of .1: shown past it on 5,000 predictions each (always-valid), not on 120
    sure = evaluate(window(5000, positives=0.2), window(5000, positives=0.34), OBJ, 100)
    assert _statuses(sure)[("candidate", "positive_rate_gap")] == FAIL
    unsure = evaluate(window(120, positives=0.2), window(120, positives=0.34), OBJ, 100)
    (gap,) = [r for r in unsure if r.objective == "positive_rate_gap"]
    assert gap.status == PASS and gap.detail.startswith(
        "over the band but not shown past it at alpha/2 0.025"
    )


SEQ = Sequential(alpha=0.05, min_detectable_auc_drop=0.02, power=0.8, max_auc_drop=0.01)


@pytest.mark.parametrize(
    ("stable", "candidate", "variance", "status", "said"),
    [
        (0.85, 0.85, 1e-5, PASS, "shown at most 0.02 worse"),  # se .003: equal, and sure of it
        (0.85, 0.80, 1e-5, FAIL, "shown more than 0.01 worse"),
        (0.85, 0.835, 1e-5, INSUFFICIENT, "not decided yet"),  # between the two claims, precisely
        (0.85, 0.85, 4e-4, INSUFFICIENT, "not decided yet"),  # se .02: equal, but no claim is shown yet
        (0.85, 0.80, 4e-4, INSUFFICIENT, "not decided yet"),  # .05 worse, se .02: not yet past the boundary
    ],
)
def test_the_quality_claims_decide_only_on_always_valid_evidence(
    stable: float, candidate: float, variance: float, status: str, said: str
) -> None:
    found = quality_result(Aucs(stable, candidate, variance, 2000), "", SEQ)
    assert found.status == status and said in found.detail, found.detail
    assert found.evidence is not None and found.evidence["rows"] == 2000
    if status == INSUFFICIENT:  # the look says how far it is from settling
        assert (
            found.evidence["rows_needed"] > 0 and "more would settle a 0.02 drop at power 0.8" in found.detail
        )


def test_a_look_without_enough_fair_customers_is_never_a_pass() -> None:
    found = quality_result(None, "insufficient data: paired: 12 fair labelled customers, 3 positive", SEQ)
    assert found.status == INSUFFICIENT and found.detail.startswith("insufficient data: paired: 12")


def _look(*statuses: str, quality: str = PASS) -> list[Result]:
    found = [Result("error_rate", "candidate", 0.0, 0.01, s) for s in statuses]
    return [*found, Result("roc_auc_drop", "candidate", 0.0, 0.01, quality)]


def test_the_decision_at_each_look() -> None:
    assert decide([_look(FAIL), _look(FAIL)], failure_limit=2, final=False) == "rollback"  # early
    assert (
        decide([_look(FAIL), _look(PASS), _look(FAIL)], failure_limit=2, final=False) is None
    )  # not in a row
    # a sequential claim is decisive at its first look: no need for the failure limit
    assert decide([_look(PASS, quality=FAIL)], failure_limit=2, final=False) == "rollback"
    assert decide([_look(PASS, quality=INSUFFICIENT)], failure_limit=2, final=False) is None
    assert decide([_look(PASS, quality=INSUFFICIENT), _look(PASS)], 2, final=False) == "promote"  # early too
    # at the end, undecided is inconclusive: never a promotion, never a rejection
    assert decide([_look(PASS), _look(PASS, quality=INSUFFICIENT)], 2, final=True) == "inconclusive"
    assert decide([_look(PASS), _look(FAIL, quality=INSUFFICIENT)], 2, final=True) == "rollback"
    assert decide([], failure_limit=1, final=True) == "inconclusive"
    assert auc_standard_error(0.9, 30, 70) == pytest.approx(0.0395, abs=1e-3)  # the bench's old rule uses it


def test_a_window_since_the_experiment_began() -> None:
    later = window(300, errors=3).minus(window(100, errors=1))
    assert (later.requests, later.errors) == (200, 2) and later.latency[-1] == (math.inf, 200.0)
