"""The canary experiment's judgement, pure: each version's window of requests (counts and a latency histogram)
against the objectives (error rate, latency p95 and p99, the candidate's positive-prediction rate within a band of
the stable one, and its ROC AUC on labelled customers), iteration by iteration, and the decision. A rate is judged
only on `min_requests` requests, and a difference between the versions fails only when a test calls it
significant: the versions see different customers."""

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
    only when the excess over the band is significant (one-sided, unpooled standard error): two versions see
    different customers, and the same model would otherwise fail by chance."""
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
    spread = math.sqrt(
        rate_c * (1 - rate_c) / candidate.predictions + rate_s * (1 - rate_s) / stable.predictions
    )
    p = 0.5 * math.erfc((abs(gap) - band) / (spread or 1e-12) / math.sqrt(2))  # H0: |gap| within the band
    if abs(gap) <= band:
        return Result("positive_rate_gap", "candidate", gap, band, PASS, "")
    if p >= obj.significance:
        detail = f"over the band but not significant at {obj.significance} (p={p:.3g})"
        return Result("positive_rate_gap", "candidate", gap, band, PASS, detail)
    return Result("positive_rate_gap", "candidate", gap, band, FAIL, f"p={p:.3g}")


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


def auc_result(
    labelled: dict[str, list[tuple[int, float]]], tolerance: float, min_requests: int, significance: float
) -> Result:
    """The candidate's ROC AUC on the served customers whose labels are known, not below the stable one's by
    more than `tolerance` (the gate's regression tolerance). Two versions see different customers, so a drop
    over the tolerance fails only when it is significant (Hanley-McNeil standard errors, one-sided)."""
    from sklearn.metrics import roc_auc_score

    aucs, errors = {}, {}
    for version in ("stable", "candidate"):
        rows = labelled.get(version, [])
        positives = sum(y for y, _ in rows)
        if len(rows) < min_requests or positives in (0, len(rows)):
            return Result(
                "roc_auc_drop",
                "candidate",
                None,
                tolerance,
                INSUFFICIENT,
                f"{version}: {len(rows)} labelled answers, {positives} positive",
            )
        aucs[version] = roc_auc_score([y for y, _ in rows], [p for _, p in rows])
        errors[version] = auc_standard_error(aucs[version], positives, len(rows) - positives)
    drop = aucs["stable"] - aucs["candidate"]
    spread = math.sqrt(errors["stable"] ** 2 + errors["candidate"] ** 2) or 1e-12
    p = 0.5 * math.erfc((drop - tolerance) / spread / math.sqrt(2))  # H0: the drop is within the tolerance
    detail = f"stable {aucs['stable']:.3f}, candidate {aucs['candidate']:.3f}, p={p:.3g}"
    if (
        drop > tolerance and p >= significance
    ):  # the customers differ: a drop the sample cannot tell from noise
        detail += f": over the tolerance but not significant at {significance}"
    status = FAIL if drop > tolerance and p < significance else PASS
    return Result("roc_auc_drop", "candidate", drop, tolerance, status, detail)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil (1982): the standard error of an ROC AUC from its value and the class counts."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(variance, 0.0))
