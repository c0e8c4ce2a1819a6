"""Whether drift calls for a retrain: pure functions over what the comparison found, and the seeded sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.settings import DriftCfg

RETRAIN, NONE, INSUFFICIENT = "retrain", "none", "insufficient_data"


@dataclass
class Findings:
    """What a comparison found: rows compared, the drifted columns and their share, and the performance drop
    on labelled rows (metric -> holdout minus now), when there were enough labels."""

    rows: int
    share: float
    drifted: list[str]
    columns: int
    drops: dict[str, float] = field(default_factory=dict)
    labelled: int = 0


@dataclass
class Decision:
    decision: str  # retrain | none | insufficient_data
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons}


def decide(found: Findings, cfg: DriftCfg, hours_since_retrain: float | None) -> Decision:
    """`retrain` when the drifted share reaches drift.share_threshold or a metric fell more than
    drift.max_performance_drop, given drift.min_rows current rows and no retrain in drift.cooldown_hours."""
    if found.rows < cfg.min_rows:
        return Decision(
            INSUFFICIENT, [f"{found.rows} current rows < drift.min_rows {cfg.min_rows}: nothing judged"]
        )
    triggers, calm = _triggers(found, cfg)
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
        )
    return Decision(RETRAIN, triggers)


def _triggers(found: Findings, cfg: DriftCfg) -> tuple[list[str], list[str]]:
    """(reasons to retrain, reasons all is well)."""
    triggers, calm = [], []
    share = f"{len(found.drifted)} of {found.columns} columns drifted (share {found.share:.2f})"
    named = f": {', '.join(found.drifted)}" if found.drifted else ""
    if found.share >= cfg.share_threshold:
        triggers.append(f"{share} >= drift.share_threshold {cfg.share_threshold:g}{named}")
    else:
        calm.append(f"{share} < drift.share_threshold {cfg.share_threshold:g}{named}")
    for metric, drop in sorted(found.drops.items()):
        where = f"{drop:.3f} below" if drop >= 0 else f"{-drop:.3f} above"
        line = f"{metric} on {found.labelled} labelled rows is {where} the holdout's"
        if drop > cfg.max_performance_drop:
            triggers.append(f"{line}, more than drift.max_performance_drop {cfg.max_performance_drop:g}")
        else:
            calm.append(f"{line}, within drift.max_performance_drop {cfg.max_performance_drop:g}")
    if not found.drops:
        calm.append(
            f"performance not judged: {found.labelled} labelled rows (drift.min_labelled_rows), one class only, "
            "or no holdout figure to compare with"
        )
    return triggers, calm


def sample_positions(total: int, size: int, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded sample of `size` out of `total` rows; None when every row fits. The same
    (total, size, seed) always gives the same rows."""
    if total <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(total, size, replace=False))
