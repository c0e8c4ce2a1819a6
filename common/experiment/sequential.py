"""Always-valid sequential tests for the canary experiment, pure: a one-sided mixture sequential probability ratio
test (mSPRT) on an asymptotically normal estimate, DeLong's variances of ROC AUC (paired and unpaired), and the
sample size a test needs for an effect at a power.

Why a mixture SPRT: the experiment is looked at after every iteration and stops at the first decisive look. A
fixed-level test at every look rejects a true null far more often than its level (the old rule: see
bench/bench_ab_validity.py). The mixture likelihood ratio Λ_n of the estimate against the null is a nonnegative
martingale under it, so by Ville's inequality P(Λ_n ever reaches 1/alpha) <= alpha, however often one looks
(Johari, Pekelis and Walsh, "Always valid inference", 2017; Howard et al. 2021 for the asymptotic form used here).
The mixing distribution is a half-normal of scale tau on the effect (one-sided claims), tau being the effect the
experiment is designed for."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Evidence:
    """One look at one claim: the estimate of the effect (positive supports the claim), its variance, the log of
    the mixture likelihood ratio, the boundary it must reach (log 1/alpha) and whether it did."""

    estimate: float
    variance: float
    log_ratio: float
    boundary: float

    @property
    def reached(self) -> bool:
        return self.log_ratio >= self.boundary

    @property
    def p_value(self) -> float:
        """The always-valid p-value of this look, 1/Λ (at most 1); the running minimum over looks is the
        experiment's."""
        return min(1.0, math.exp(-self.log_ratio))

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "estimate": round(self.estimate, 6),
            "se": round(math.sqrt(self.variance), 6),
            "log_ratio": round(self.log_ratio, 4),
            "boundary": round(self.boundary, 4),
            "p_value": round(self.p_value, 6),
            "reached": self.reached,
        }


def log_mixture_ratio(estimate: float, variance: float, tau: float) -> float:
    """log Λ of the estimate against an effect of 0, mixing the effect over a half-normal(tau) on the claim's side:
    Λ = 2 sqrt(V/(V+τ²)) exp(θ²τ²/(2V(V+τ²))) Φ(θτ/sqrt(V(V+τ²)))."""
    from scipy.special import log_ndtr

    if variance <= 0:  # nothing varies: a sure estimate reaches any boundary on its side, none on the other
        return math.inf if estimate > 0 else -math.inf
    total = variance + tau * tau
    return (
        math.log(2.0)
        + 0.5 * math.log(variance / total)
        + estimate * estimate * tau * tau / (2 * variance * total)
        + float(log_ndtr(estimate * tau / math.sqrt(variance * total)))
    )


def evidence(estimate: float, variance: float, tau: float, alpha: float) -> Evidence:
    """The look's evidence for the claim "the effect is above 0", against the boundary log(1/alpha)."""
    return Evidence(estimate, variance, log_mixture_ratio(estimate, variance, tau), math.log(1 / alpha))


def critical_estimate(variance: float, tau: float, alpha: float) -> float:
    """The smallest estimate whose evidence reaches the boundary at this variance (bisection: log Λ grows with the
    estimate)."""
    boundary = math.log(1 / alpha)
    low, high = 0.0, 1.0
    while log_mixture_ratio(high, variance, tau) < boundary:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if log_mixture_ratio(middle, variance, tau) < boundary else (low, middle)
    return high


def power_at(rows: float, per_row_variance: float, effect: float, tau: float, alpha: float) -> float:
    """The chance that the evidence is past the boundary at `rows` rows when the true effect is `effect` (the
    estimate normal around it, variance per_row_variance / rows)."""
    variance = per_row_variance / rows
    if variance <= 0:  # identical scores: any effect is seen at once
        return 1.0 if effect > 0 else 0.0
    cut = critical_estimate(variance, tau, alpha)
    return 0.5 * math.erfc((cut - effect) / math.sqrt(2 * variance))


def rows_needed(
    per_row_variance: float, effect: float, tau: float, alpha: float, power: float, cap: int = 10**9
) -> int:
    """The fewest rows at which the claim is reached with `power` when the effect is `effect`; `cap` when even
    that many are not enough."""
    if effect <= 0:
        return cap
    if power_at(1, per_row_variance, effect, tau, alpha) >= power:
        return 1
    low, high = 1, 2
    while power_at(high, per_row_variance, effect, tau, alpha) < power:
        if high >= cap:
            return cap
        low, high = high, min(high * 2, cap)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (
            (middle, high)
            if power_at(middle, per_row_variance, effect, tau, alpha) < power
            else (low, middle)
        )
    return high


@dataclass(frozen=True)
class Aucs:
    """ROC AUCs of the stable and candidate versions and the variance of their difference (candidate minus
    stable); `rows` labelled customers (both versions' in split mode)."""

    stable: float
    candidate: float
    variance: float
    rows: int

    @property
    def difference(self) -> float:
        return self.candidate - self.stable


def delong_paired(labels: np.ndarray, stable: np.ndarray, candidate: np.ndarray) -> Aucs:
    """Both versions' scores of the same customers: DeLong's covariance of the two AUCs (the fast midrank form of
    Sun and Xu, 2014), so the difference's variance counts their correlation."""
    import numpy as np

    positives = labels == 1
    m, n = int(positives.sum()), int((~positives).sum())
    aucs, v01, v10 = [], [], []
    for scores in (stable, candidate):
        auc, pos, neg = _components(scores[positives], scores[~positives])
        aucs.append(auc)
        v01.append(pos)
        v10.append(neg)
    s = np.cov(np.vstack(v01)) / m + np.cov(np.vstack(v10)) / n
    variance = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    return Aucs(aucs[0], aucs[1], max(variance, 0.0), len(labels))


def delong_variance(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(ROC AUC, DeLong's variance of it) for one version's customers."""
    import numpy as np

    positives = labels == 1
    auc, pos, neg = _components(scores[positives], scores[~positives])
    return auc, float(np.var(pos, ddof=1) / len(pos) + np.var(neg, ddof=1) / len(neg))


def delong_unpaired(stable: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]) -> Aucs:
    """Each version on its own customers ((labels, scores) each): independent AUCs, variances added."""
    auc_s, var_s = delong_variance(*stable)
    auc_c, var_c = delong_variance(*candidate)
    return Aucs(auc_s, auc_c, var_s + var_c, len(stable[0]) + len(candidate[0]))


def _components(positive: np.ndarray, negative: np.ndarray) -> tuple[float, Any, Any]:
    """(AUC, each positive's and each negative's placement): the structural components of DeLong."""
    import numpy as np
    from scipy.stats import rankdata

    m, n = len(positive), len(negative)
    together = rankdata(np.concatenate([positive, negative]))
    within_pos, within_neg = rankdata(positive), rankdata(negative)
    auc = (together[:m].sum() - m * (m + 1) / 2) / (m * n)
    return float(auc), (together[:m] - within_pos) / n, 1.0 - (together[m:] - within_neg) / m


def hanley_mcneil_row_variance(auc: float, prevalence: float) -> float:
    """An AUC's variance times the rows it was measured on (Hanley and McNeil, 1982), for planning before any
    data: it is nearly constant in the row count."""
    rows = 10_000
    positives = max(1, round(rows * prevalence))
    negatives = max(1, rows - positives)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return max(variance, 0.0) * rows
