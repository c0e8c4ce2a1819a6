"""The canary experiment's judgement, pure: each version's window of requests (counts and a latency histogram)
against the objectives (error rate, latency p95 and p99, the candidate's positive-prediction rate within a band of
the stable one, and its ROC AUC on labelled customers), iteration by iteration, and the decision. A rate is judged
only on `min_requests` requests, and a difference between the versions fails only when a test calls it
significant: the versions see different customers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.settings import ObjectivesCfg

if TYPE_CHECKING:
    from common.experiment.sequential import Aucs

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
    evidence: dict[str, Any] | None = None  # the always-valid tests' look, for the report

    def to_dict(self) -> dict[str, Any]:
        fields = ("objective", "version", "value", "limit", "status", "detail")
        found = {k: getattr(self, k) for k in fields}
        return found if self.evidence is None else {**found, "evidence": self.evidence}


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


def evaluate(
    stable: Window, candidate: Window, obj: ObjectivesCfg, min_requests: int, seq: Sequential | None = None
) -> list[Result]:
    """Every objective of both versions on their windows."""
    results = []
    for name, window in (("stable", stable), ("candidate", candidate)):
        results += _service(name, window, obj, min_requests)
    results.append(_positive_rate(stable, candidate, obj, min_requests, seq or Sequential()))
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


@dataclass(frozen=True)
class Sequential:
    """What the always-valid tests need: the experiment's false-decision rate, the effect it is sized for and
    the power wanted there, and the ROC AUC drop a candidate may show and still be promoted."""

    alpha: float = 0.05
    min_detectable_auc_drop: float = 0.02
    power: float = 0.8
    max_auc_drop: float = 0.01

    @classmethod
    def of(cls, objectives: dict[str, Any]) -> Sequential:
        return cls(**{k: objectives[k] for k in cls.__dataclass_fields__ if k in objectives})


def _positive_rate(
    stable: Window, candidate: Window, obj: ObjectivesCfg, min_requests: int, seq: Sequential
) -> Result:
    """The candidate's positive-prediction rate within the band of the stable one. It fails only when an
    always-valid test (alpha/2 each side: the quality test has the other half of a rollback's error) shows the
    gap past the band; within the band, or not shown past it, it passes: it guards against a broken candidate,
    the quality objective is the decision's evidence."""
    from common.experiment.sequential import evidence

    band = obj.positive_rate_band
    if min(stable.predictions, candidate.predictions) < min_requests:
        return Result(
            "positive_rate_gap",
            "candidate",
            None,
            band,
            INSUFFICIENT,
            f"predictions: stable {stable.predictions}, candidate {candidate.predictions}, fewer than {min_requests}",
        )
    rate_c, rate_s = candidate.positives / candidate.predictions, stable.positives / stable.predictions
    gap = rate_c - rate_s
    variance = rate_c * (1 - rate_c) / candidate.predictions + rate_s * (1 - rate_s) / stable.predictions
    tau = max(band, 0.01)
    above = evidence(gap - band, variance, tau, seq.alpha / 2)
    below = evidence(-gap - band, variance, tau, seq.alpha / 2)
    shown = above if above.log_ratio >= below.log_ratio else below
    detail = f"always-valid p={shown.p_value:.3g} that the gap is past the band"
    if shown.reached:
        return Result("positive_rate_gap", "candidate", gap, band, FAIL, detail, shown.to_dict())
    if abs(gap) > band:
        detail = f"over the band but not shown past it at alpha/2 {seq.alpha / 2:g} ({detail})"
    return Result("positive_rate_gap", "candidate", gap, band, PASS, detail, shown.to_dict())


def iteration_status(results: list[Result]) -> str:
    """fail if any objective fails; pass only when every objective could be judged and passed."""
    statuses = {r.status for r in results}
    return FAIL if FAIL in statuses else INSUFFICIENT if INSUFFICIENT in statuses else PASS


SEQUENTIAL = ("roc_auc_drop", "positive_rate_gap")  # judged by always-valid tests: decisive at any look


def decide(iterations: list[list[Result]], failure_limit: int, final: bool) -> str | None:
    """The decision after the looks so far (each look's results), None while the experiment goes on:
    rollback      a sequential objective failed (always-valid: at any look), or `failure_limit` looks in a row
                  failed (the service objectives);
    promote       a look where every objective passed (the quality claim is always-valid, so it may come early);
    inconclusive  at the end, neither: the candidate is not promoted, and not rejected either."""
    statuses = [iteration_status(results) for results in iterations]
    last = iterations[-1] if iterations else []
    if any(r.status == FAIL and r.objective in SEQUENTIAL for r in last):
        return "rollback"
    if len(statuses) >= failure_limit and all(s == FAIL for s in statuses[-failure_limit:]):
        return "rollback"
    if statuses and statuses[-1] == PASS:
        return "promote"
    if not final:
        return None
    return "rollback" if statuses and statuses[-1] == FAIL else "inconclusive"


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


def quality_result(aucs: Aucs | None, short: str, seq: Sequential) -> Result:
    """The candidate's ROC AUC against the stable one's on the fair comparison set, by two always-valid claims
    at `alpha` each (a false decision needs the wrong one, and only one can be wrong):
      fail  the candidate is shown worse than the stable one by more than max_auc_drop (a rollback);
      pass  it is shown no more than min_detectable_auc_drop worse (a promotion);
      insufficient  neither yet: never a pass. The detail says how many labelled customers would settle it.
    `short` says why there is no comparison when `aucs` is None."""
    from common.experiment.sequential import evidence, rows_needed

    limit = seq.max_auc_drop
    if aucs is None:
        return Result("roc_auc_drop", "candidate", None, limit, INSUFFICIENT, short)
    tau, drop = seq.min_detectable_auc_drop, -aucs.difference
    worse = evidence(drop - limit, aucs.variance, tau, seq.alpha)
    within = evidence(tau - drop, aucs.variance, tau, seq.alpha)
    needed = rows_needed(aucs.variance * aucs.rows, tau, tau, seq.alpha, seq.power, cap=10**8)
    looked = {"worse": worse.to_dict(), "within": within.to_dict(), "rows": aucs.rows, "rows_needed": needed}
    figures = (
        f"stable {aucs.stable:.3f}, candidate {aucs.candidate:.3f} on {aucs.rows} fair labelled customers"
    )
    if worse.reached:
        detail = f"{figures}: shown more than {limit:g} worse (always-valid p={worse.p_value:.3g})"
        return Result("roc_auc_drop", "candidate", drop, limit, FAIL, detail, looked)
    if within.reached:
        detail = f"{figures}: shown at most {tau:g} worse (always-valid p={within.p_value:.3g})"
        return Result("roc_auc_drop", "candidate", drop, limit, PASS, detail, looked)
    more = max(needed - aucs.rows, 0)
    detail = (
        f"{figures}: not decided yet (evidence {max(worse.log_ratio, within.log_ratio):.2f} of "
        f"{worse.boundary:.2f}); about {more} more would settle a {tau:g} drop at power {seq.power:g}"
    )
    return Result("roc_auc_drop", "candidate", drop, limit, INSUFFICIENT, detail, looked)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil (1982): the standard error of an ROC AUC from its value and the class counts."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(variance, 0.0))
