"""The evaluation gate's decision table, pure: thresholds, no regression against the champion, inference checks,
and whether a passing model takes the champion alias."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from common.settings import GateCfg


@dataclass
class Decision:
    candidate: str
    passed: bool
    promote: bool
    unmet: list[str] = field(default_factory=list)  # every failed check, for the exit-4 message
    reasons: list[str] = field(default_factory=list)  # every check and the alias decision, for the record

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unmet_thresholds(metrics: dict[str, float], gate: GateCfg) -> list[str]:
    return [
        f"{name} {metrics[name]:.3f} < {floor}"
        for name, floor in gate.thresholds.items()
        if metrics[name] < floor
    ]


def decide(
    candidate: str,
    metrics: dict[str, float],
    gate: GateCfg,
    champion: float | None,
    latency_ms: float,
    deterministic: bool,
) -> Decision:
    """Pass when every threshold is met, the primary metric is not below the champion's by more than the
    tolerance, single-row latency is within the limit and predictions repeat. A pass takes the champion alias
    when there is none, or when it beats the champion by at least the margin (a tie never does)."""
    key, value = gate.primary_metric, metrics[gate.primary_metric]
    unmet = unmet_thresholds(metrics, gate)
    reasons = [
        f"{n} {metrics[n]:.3f} >= {floor}" for n, floor in gate.thresholds.items() if metrics[n] >= floor
    ]
    if latency_ms > gate.max_latency_ms:
        unmet.append(f"single-row latency {latency_ms:.1f} ms > {gate.max_latency_ms} ms")
    else:
        reasons.append(f"single-row latency {latency_ms:.1f} ms <= {gate.max_latency_ms} ms")
    (reasons if deterministic else unmet).append(
        "the same input twice gives the same output"
        if deterministic
        else "the same input twice gave different outputs"
    )
    if champion is not None and value < champion - gate.regression_tolerance:
        unmet.append(
            f"{key} {value:.4f} regresses against the champion's {champion:.4f} "
            f"by more than {gate.regression_tolerance}"
        )
    passed = not unmet
    promote = (
        passed
        and gate.promote
        and (champion is None or (value > champion and value - champion >= gate.promotion_margin))
    )
    reasons += [f"FAILED: {u}" for u in unmet]
    if passed and not gate.promote:
        reasons.append(
            f"registered as challenger only: {gate.promote_key} is false ({key} {value:.4f}, champion "
            f"{'none' if champion is None else f'{champion:.4f}'}); the champion alias is left to an experiment"
        )
    else:
        reasons.append(_alias_reason(passed, promote, key, value, champion, gate.promotion_margin))
    return Decision(candidate, passed, promote, unmet, reasons)


def _alias_reason(
    passed: bool, promote: bool, key: str, value: float, champion: float | None, margin: float
) -> str:
    if not passed:
        return "not registered: the gate failed; the champion is unchanged"
    if champion is None:
        return "registered as challenger and champion: there was no champion"
    if promote:
        return f"registered as challenger and champion: {key} {value:.4f} beats {champion:.4f} by >= {margin}"
    return (
        f"registered as challenger; the champion stays: {key} {value:.4f} vs {champion:.4f} (margin {margin})"
    )


def pick(candidates: dict[str, dict[str, float]], gate: GateCfg) -> str:
    """The best candidate by the primary metric among those meeting every threshold, else the best overall."""
    ranked = sorted(candidates, key=lambda c: candidates[c][gate.primary_metric], reverse=True)
    return next((c for c in ranked if not unmet_thresholds(candidates[c], gate)), ranked[0])
