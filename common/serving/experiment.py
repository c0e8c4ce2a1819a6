"""The canary experiment's judgement, pure: each version's window of requests (counts and a latency histogram)
against the objectives (error rate, latency p95 and p99, the candidate's positive-prediction rate within a band of
the stable one), iteration by iteration, and the decision. A rate is judged only on `min_requests` requests, and a
difference between the versions only when a two-proportion test calls it significant."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from common.settings import ObjectivesCfg

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient"


@dataclass
class Window:
    """One version's requests since the experiment began: counters and the cumulative latency histogram
    (upper bound in seconds -> requests at or under it, Prometheus' `le` buckets, +Inf last)."""

    requests: int = 0
    errors: int = 0
    predictions: int = 0
    positives: int = 0
    latency: list[tuple[float, float]] = field(default_factory=list)

    def minus(self, earlier: Window) -> Window:
        """What happened after `earlier` (counters only grow; a restarted server starts from zero)."""
        before = dict(earlier.latency)
        return Window(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            self.predictions - earlier.predictions,
            self.positives - earlier.positives,
            [(le, count - before.get(le, 0)) for le, count in self.latency],
        )


@dataclass(frozen=True)
class Result:
    objective: str
    version: str  # stable | candidate
    value: float | None
    limit: float
    status: str  # pass | fail | insufficient
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("objective", "version", "value", "limit", "status", "detail")}


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated linearly within its bucket, as PromQL's
    histogram_quantile does, so the embedded reader and Prometheus agree on the same counts."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # the highest finite bound, as Prometheus answers
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def two_proportion_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p-value of a difference between two rates (pooled z-test); 1.0 when it cannot be computed."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0 if hits_a / n_a == hits_b / n_b else 0.0
    z = (hits_a / n_a - hits_b / n_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def evaluate(stable: Window, candidate: Window, obj: ObjectivesCfg, min_requests: int) -> list[Result]:
    """Every objective of both versions on their windows."""
    results = []
    for name, window in (("stable", stable), ("candidate", candidate)):
        results += _service(name, window, obj, min_requests)
    results.append(_positive_rate(stable, candidate, obj, min_requests))
    return results


def _service(version: str, w: Window, obj: ObjectivesCfg, min_requests: int) -> list[Result]:
    enough = w.requests >= min_requests
    short = f"{w.requests} requests, fewer than {min_requests}"
    rate = w.errors / w.requests if w.requests else None
    found = [
        Result(
            "error_rate",
            version,
            rate,
            obj.max_error_rate,
            INSUFFICIENT if not enough else PASS if (rate or 0) <= obj.max_error_rate else FAIL,
            "" if enough else short,
        )
    ]
    for q, limit in ((0.95, obj.max_latency_p95_ms), (0.99, obj.max_latency_p99_ms)):
        value = histogram_quantile(q, w.latency)
        ms = None if value is None else value * 1000
        status = INSUFFICIENT if not enough or ms is None else PASS if ms <= limit else FAIL
        found.append(
            Result(f"latency_p{round(q * 100)}_ms", version, ms, limit, status, "" if enough else short)
        )
    return found


def _positive_rate(stable: Window, candidate: Window, obj: ObjectivesCfg, min_requests: int) -> Result:
    """The candidate's positive-prediction rate within the band of the stable one; a gap over the band fails
    only when it is significant."""
    if min(stable.predictions, candidate.predictions) < min_requests:
        return Result(
            "positive_rate_gap",
            "candidate",
            None,
            obj.positive_rate_band,
            INSUFFICIENT,
            f"predictions: stable {stable.predictions}, candidate {candidate.predictions}, fewer than {min_requests}",
        )
    gap = candidate.positives / candidate.predictions - stable.positives / stable.predictions
    p = two_proportion_p(candidate.positives, candidate.predictions, stable.positives, stable.predictions)
    if abs(gap) <= obj.positive_rate_band:
        return Result("positive_rate_gap", "candidate", gap, obj.positive_rate_band, PASS, f"p={p:.3g}")
    if p >= obj.significance:
        return Result(
            "positive_rate_gap",
            "candidate",
            gap,
            obj.positive_rate_band,
            INSUFFICIENT,
            f"p={p:.3g}: not significant at {obj.significance}",
        )
    return Result("positive_rate_gap", "candidate", gap, obj.positive_rate_band, FAIL, f"p={p:.3g}")


def iteration_status(results: list[Result]) -> str:
    """fail if any objective fails; pass only when every objective could be judged and passed."""
    statuses = {r.status for r in results}
    return FAIL if FAIL in statuses else INSUFFICIENT if INSUFFICIENT in statuses else PASS


def decide(statuses: list[str], failure_limit: int, final: bool) -> str | None:
    """rollback after `failure_limit` failing iterations in a row; at the end, promote only when the last
    iteration passed; None while the experiment goes on."""
    if len(statuses) >= failure_limit and all(s == FAIL for s in statuses[-failure_limit:]):
        return "rollback"
    if not final:
        return None
    return "promote" if statuses and statuses[-1] == PASS else "rollback"


def failed(results: list[Result]) -> list[str]:
    """Each failed (or, at the end, unjudged) objective as a reason a person reads."""
    return [
        f"{r.version} {r.objective} = {_fmt(r.value)} over {r.limit}" + (f" ({r.detail})" if r.detail else "")
        if r.status == FAIL
        else f"{r.version} {r.objective}: not judged ({r.detail})"
        for r in results
        if r.status != PASS
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
