"""Whether drift calls for a retrain: pure functions over what the comparison found, and the seeded sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.settings import DriftCfg

RETRAIN, NONE, INSUFFICIENT = "retrain", "none", "insufficient_data"


@dataclass
class Findings:
    """What a comparison found: rows compared, the drifted columns (Evidently's verdicts) and their share, the
    churn probability's drift against the champion's holdout ({method, score, threshold, detected}; None when not
    measured), the performance drop on labelled rows (metric -> holdout minus now), when there were enough labels,
    each column's test under our false-discovery control, and the performance estimated without labels."""

    rows: int
    share: float
    drifted: list[str]
    columns: int
    drops: dict[str, float] = field(default_factory=dict)
    labelled: int = 0
    prediction: dict[str, Any] | None = None
    # per column {column, p_value, p_adjusted, effect, effect_method, drifted} (statistics.judge_columns)
    tested: list[dict[str, Any]] | None = None
    estimate: dict[str, Any] | None = None  # CBPE without labels (statistics.estimate), None: not measured


# each rule that can call for a retrain, by the config key that governs it
RULES = {
    "share": "drift.share_threshold",
    "prediction": "drift.prediction_drift",
    "performance": "drift.max_performance_drop",
    "columns": "drift.fdr",
    "estimated_performance": "drift.max_estimated_auc_drop",
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
    drifted (drift.prediction_drift), a metric fell more than drift.max_performance_drop, a column drifted under
    false-discovery control (drift.fdr) by at least drift.min_effect, or the ROC AUC estimated without labels
    fell more than drift.max_estimated_auc_drop; given drift.min_rows current rows and no retrain in
    drift.cooldown_hours. The decision names the rules that fired."""
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
    said = [
        ("share", _share(found, cfg)),
        ("columns", _columns(found.tested, cfg)),
        ("prediction", _prediction(found.prediction, cfg)),
        *(("performance", line) for line in _performance(found, cfg)),
        ("estimated_performance", _estimated(found.estimate, cfg)),
    ]
    triggers: list[str] = []
    calm: list[str] = []
    fired: list[str] = []
    for rule, judged in said:
        if judged is None:  # not measured
            continue
        line, fires = judged
        (triggers if fires else calm).append(line)
        fired += [rule] if fires and rule not in fired else []
    return triggers, calm, fired


def _share(found: Findings, cfg: DriftCfg) -> tuple[str, bool]:
    share = f"{len(found.drifted)} of {found.columns} columns drifted (share {found.share:.2f})"
    named = f": {', '.join(found.drifted)}" if found.drifted else ""
    if found.share >= cfg.share_threshold:
        return f"{share} >= drift.share_threshold {cfg.share_threshold:g}{named}", True
    return f"{share} < drift.share_threshold {cfg.share_threshold:g}{named}", False


def _performance(found: Findings, cfg: DriftCfg) -> list[tuple[str, bool]]:
    """Each judged metric's line on labelled rows, or why none was judged."""
    if not found.drops:
        return [
            (
                f"performance not judged: {found.labelled} labelled rows (drift.min_labelled_rows), one class "
                "only, or no holdout figure to compare with",
                False,
            )
        ]
    lines = []
    for metric, drop in sorted(found.drops.items()):
        line = f"{metric} on {found.labelled} labelled rows is {_below(drop)} the holdout's"
        if drop > cfg.max_performance_drop:
            lines.append((f"{line}, more than drift.max_performance_drop {cfg.max_performance_drop:g}", True))
        else:
            lines.append((f"{line}, within drift.max_performance_drop {cfg.max_performance_drop:g}", False))
    return lines


def _below(drop: float) -> str:
    return f"{drop:.3f} below" if drop >= 0 else f"{-drop:.3f} above"


def _columns(tested: list[dict[str, Any]] | None, cfg: DriftCfg) -> tuple[str, bool] | None:
    """The per-column rule: fires when any column's BH-adjusted p-value is at most drift.fdr and its effect at
    least drift.min_effect. Its line names those columns, or the significant ones the floor kept out."""
    if not tested:
        return None
    how = f"at FDR drift.fdr {cfg.fdr:g} with {tested[0]['effect_method'].upper()} >= drift.min_effect"
    drifted = [t for t in tested if t["drifted"]]
    if drifted:
        listed = ", ".join(_column(t) for t in drifted)
        return f"{len(drifted)} of {len(tested)} columns drifted {how} {cfg.min_effect:g}: {listed}", True
    small = [t for t in tested if t["p_adjusted"] <= cfg.fdr]
    under = f"; significant but under the floor: {', '.join(_column(t) for t in small)}" if small else ""
    return f"no column drifted {how} {cfg.min_effect:g}{under}", False


def _column(t: dict[str, Any]) -> str:
    return f"{t['column']} (adjusted p {t['p_adjusted']:.2g}, {t['effect_method'].upper()} {t['effect']:.3f})"


def _estimated(found: dict[str, Any] | None, cfg: DriftCfg) -> tuple[str, bool] | None:
    """The estimated-performance rule (CBPE): fires when the ROC AUC estimated from the champion's own
    probabilities falls more than drift.max_estimated_auc_drop below the holdout's, unless the holdout shows
    the probabilities are not calibrated enough to estimate from (drift.max_calibration_error)."""
    if found is None:
        return None
    auc, drop, ece = found["estimated"]["roc_auc"], found["auc_drop"], found["calibration_error"]
    realized = found.get("realized_roc_auc")
    line = (
        f"ROC AUC estimated without labels (CBPE, {found['rows']} rows) is {auc:.3f}"
        + (f" (realized {realized:.3f} on labelled rows)" if realized is not None else "")
        + f", {_below(drop)} the holdout's {found['holdout_roc_auc']:.3f}"
    )
    if ece > cfg.max_calibration_error:
        return (
            f"{line}: not trustworthy, the holdout's calibration error {ece:.3f} > drift.max_calibration_error "
            f"{cfg.max_calibration_error:g}",
            False,
        )
    if drop > cfg.max_estimated_auc_drop:
        return f"{line}, more than drift.max_estimated_auc_drop {cfg.max_estimated_auc_drop:g}", True
    return f"{line}, within drift.max_estimated_auc_drop {cfg.max_estimated_auc_drop:g}", False


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
