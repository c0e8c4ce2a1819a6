"""Whether drift calls for a retrain: pure functions over what the comparison found, and the seeded sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.settings import DriftCfg

RETRAIN, NONE, INSUFFICIENT = "retrain", "none", "insufficient_data"


@dataclass
class Findings:
    """What a comparison found: rows compared, the drifted columns and their share, the churn probability's
    drift against the champion's holdout ({method, score, threshold, detected}; None when not measured), and the
    performance drop on labelled rows (metric -> holdout minus now), when there were enough labels."""

    rows: int
    share: float
    drifted: list[str]
    columns: int
    drops: dict[str, float] = field(default_factory=dict)
    labelled: int = 0
    prediction: dict[str, Any] | None = None


# each rule that can call for a retrain, by the config key that governs it
RULES = {
    "share": "drift.share_threshold",
    "prediction": "drift.prediction_drift",
    "performance": "drift.max_performance_drop",
}


@dataclass
class Decision:
    decision: str  # retrain | none | insufficient_data
    reasons: list[str]
    fired: list[str] = field(default_factory=list)  # the RULES that called for a retrain

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons, "rules_fired": self.fired}


def decide(found: Findings, cfg: DriftCfg, hours_since_retrain: float | None) -> Decision:
    """`retrain` when any rule fires: the drifted share reaches drift.share_threshold, the churn probability
    drifted (drift.prediction_drift), or a metric fell more than drift.max_performance_drop; given drift.min_rows
    current rows and no retrain in drift.cooldown_hours. The decision names the rules that fired."""
    if found.rows < cfg.min_rows:
        return Decision(
            INSUFFICIENT, [f"{found.rows} current rows < drift.min_rows {cfg.min_rows}: nothing judged"]
        )
    triggers, calm, fired = _triggers(found, cfg)
    if not triggers:
        return Decision(NONE, calm)
    if hours_since_retrain is not None and hours_since_retrain < cfg.cooldown_hours:
        return Decision(
            NONE,
            [
                *triggers,
                f"but the last retrain was {hours_since_retrain:.1f} h ago, within drift.cooldown_hours "
                f"{cfg.cooldown_hours:g}: no retrain now",
            ],
            fired,
        )
    return Decision(RETRAIN, triggers, fired)


def _triggers(found: Findings, cfg: DriftCfg) -> tuple[list[str], list[str], list[str]]:
    """(reasons to retrain, reasons all is well, the rules that fired)."""
    triggers, calm, fired = [], [], []
    share = f"{len(found.drifted)} of {found.columns} columns drifted (share {found.share:.2f})"
    named = f": {', '.join(found.drifted)}" if found.drifted else ""
    if found.share >= cfg.share_threshold:
        triggers.append(f"{share} >= drift.share_threshold {cfg.share_threshold:g}{named}")
        fired.append("share")
    else:
        calm.append(f"{share} < drift.share_threshold {cfg.share_threshold:g}{named}")
    said = _prediction(found.prediction, cfg)
    if said is not None:
        line, fires = said
        (triggers if fires else calm).append(line)
        fired += ["prediction"] if fires else []
    for metric, drop in sorted(found.drops.items()):
        where = f"{drop:.3f} below" if drop >= 0 else f"{-drop:.3f} above"
        line = f"{metric} on {found.labelled} labelled rows is {where} the holdout's"
        if drop > cfg.max_performance_drop:
            triggers.append(f"{line}, more than drift.max_performance_drop {cfg.max_performance_drop:g}")
            fired += [] if "performance" in fired else ["performance"]
        else:
            calm.append(f"{line}, within drift.max_performance_drop {cfg.max_performance_drop:g}")
    if not found.drops:
        calm.append(
            f"performance not judged: {found.labelled} labelled rows (drift.min_labelled_rows), one class only, "
            "or no holdout figure to compare with"
        )
    return triggers, calm, fired


def _prediction(found: dict[str, Any] | None, cfg: DriftCfg) -> tuple[str, bool] | None:
    """The churn probability's rule: (its line, whether it fires); None when it was not measured."""
    if found is None:
        return None
    how = f"{found['method']} {found['score']:.3g}, threshold {found['threshold']:g}"
    if not found["detected"]:
        return f"the churn probability did not drift from the holdout's ({how})", False
    if not cfg.prediction_drift:
        return f"the churn probability drifted ({how}), but drift.prediction_drift is false", False
    return f"the churn probability drifted from the holdout's ({how}): drift.prediction_drift", True


def sample_positions(total: int, size: int, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded sample of `size` out of `total` rows; None when every row fits. The same
    (total, size, seed) always gives the same rows."""
    if total <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(total, size, replace=False))
