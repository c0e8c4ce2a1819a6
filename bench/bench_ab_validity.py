"""Benchmark the canary experiment's decisions (UC2): simulated experiments under the configured look schedule,
judged by the real decision code (common.experiment.judgement.quality_result and decide, DeLong from
common.experiment.sequential), against the old rule in the same run.

Each experiment draws labelled customers look by look (ab_testing.iterations equal looks), scores them with two
versions whose ROC AUCs differ by a known amount (binormal scores; the versions share part of their noise, as a
retrained model shares most of its predecessor's), and decides. Truths and what a false decision is:
  A/A       equal AUCs (0.85 each): a rollback is false; the power to promote is measured;
  boundary  the candidate exactly max_auc_drop worse: a rollback is false (the claim is "more than that");
  margin    exactly min_detectable_auc_drop worse: a promotion is false (the claim is "at most that");
  worse     max_auc_drop + min_detectable_auc_drop worse: a promotion is false; the power to roll back.
Shadow mode pairs the two versions' scores of the same customers; split mode gives each customer one version
(a 50 % split: the most power a split has). Each mode's customers are the plan's (common.experiment.sequential:
rows_needed, at the variance a large pilot sample shows), so the power is measured where the plan says 0.8.

The anchor is the old rule: a one-sided test at 0.05 at every look (Hanley-McNeil standard errors), a drop over
max_auc_drop and significant fails the look, failure_limit failing looks in a row roll back, the last look's pass
promotes (a pass being "not shown worse"), on the same simulated data; and the same test stopping at its first
decisive look (failure_limit 1), whose false rollbacks at the boundary show what peeking costs.

Targets: false-decision rate <= alpha + 0.01 in every null truth over >= 1,000 experiments; power >= 0.8.

    .venv/bin/python bench/bench_ab_validity.py        (BENCH_AB_SIMS, default 1000)
"""

from __future__ import annotations

import math
import os
import time
from statistics import NormalDist
from typing import Any

import numpy as np
from benchlib import entry, report

AUC, PREVALENCE, SHARED = 0.85, 0.27, 0.8  # the stable version; churners; the noise the versions share
SPLIT_SHARE = 0.5


def scores(rows: int, drop: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, stable scores, candidate scores) of `rows` customers; the candidate's AUC `drop` below."""
    y = (rng.random(rows) < PREVALENCE).astype(int)
    shared = rng.normal(scale=math.sqrt(SHARED), size=rows)
    own = math.sqrt(1 - SHARED)
    gap_s = math.sqrt(2) * NormalDist().inv_cdf(AUC)
    gap_c = math.sqrt(2) * NormalDist().inv_cdf(AUC - drop)
    stable = gap_s * y + shared + rng.normal(scale=own, size=rows)
    candidate = gap_c * y + shared + rng.normal(scale=own, size=rows)
    return y, stable, candidate


def comparison(mode: str, y: np.ndarray, s: np.ndarray, c: np.ndarray, meets: np.ndarray) -> Any:
    from common.experiment.sequential import delong_paired, delong_unpaired

    if mode == "shadow":
        return delong_paired(y, s, c)
    return delong_unpaired((y[~meets], s[~meets]), (y[meets], c[meets]))


def planned_rows(mode: str, seq: Any, rng: np.random.Generator) -> int:
    """The plan at the variance a 100k-customer pilot shows (what the looks re-plan with), the candidate where
    a rollback must be shown (a worse AUC varies more: the least favourable claim's variance)."""
    from common.experiment.sequential import rows_needed

    y, s, c = scores(100_000, seq.max_auc_drop + seq.min_detectable_auc_drop, rng)
    meets = rng.random(len(y)) < SPLIT_SHARE
    found = comparison(mode, y, s, c, meets)
    effect = seq.min_detectable_auc_drop
    return rows_needed(found.variance * found.rows, effect, effect, seq.alpha, seq.power)


def experiment(
    mode: str, drop: float, rows: int, looks: int, seq: Any, limit: int, rng: Any
) -> dict[str, str]:
    """One experiment: its decision by the new rule and by the old one, on the same customers."""
    from common.experiment import judgement as judge

    y, s, c = scores(rows, drop, rng)
    meets = rng.random(rows) < SPLIT_SHARE
    new: str | None = None
    old_statuses: list[str] = []
    old: str | None = None
    first: str | None = None  # the old test, stopping at its first decisive look (failure_limit 1)
    history: list[list[Any]] = []
    for look in range(1, looks + 1):
        n = rows * look // looks
        found = comparison(mode, y[:n], s[:n], c[:n], meets[:n])
        if new is None:
            history.append([judge.quality_result(found, "", seq)])
            new = judge.decide(history, limit, final=look == looks)
        if old is None:
            old_statuses.append(_old_look(mode, found, y[:n], meets[:n], seq.max_auc_drop))
            old = _old_decide(old_statuses, limit, final=look == looks)
        if first is None:
            first = _old_decide(old_statuses[-1:], 1, final=look == looks)
        if new is not None and old is not None and first is not None:
            break
    return {"new": new or "inconclusive", "old": old or "rollback", "old_first_look": first or "rollback"}


def _old_look(mode: str, found: Any, y: Any, meets: Any, tolerance: float) -> str:
    """The old rule's look on the same AUCs: Hanley-McNeil errors as if the samples were independent, one-sided
    at 0.05."""
    from common.experiment.judgement import auc_standard_error

    sides = [y, y] if mode == "shadow" else [y[~meets], y[meets]]
    errors = [
        auc_standard_error(auc, int(labels.sum()), int(len(labels) - labels.sum()))
        for auc, labels in zip((found.stable, found.candidate), sides, strict=True)
    ]
    drop = found.stable - found.candidate
    p = 0.5 * math.erfc((drop - tolerance) / (math.hypot(*errors) or 1e-12) / math.sqrt(2))
    return "fail" if drop > tolerance and p < 0.05 else "pass"


def _old_decide(statuses: list[str], limit: int, final: bool) -> str | None:
    if len(statuses) >= limit and all(s == "fail" for s in statuses[-limit:]):
        return "rollback"
    if not final:
        return None
    return "promote" if statuses[-1] == "pass" else "rollback"


def main() -> int:
    from common.config import load_config
    from common.experiment.judgement import Sequential

    cfg = load_config(environ={})
    ab = cfg.ab_testing
    seq = Sequential(ab.alpha, ab.min_detectable_auc_drop, ab.power, cfg.training.gate.regression_tolerance)
    sims = int(os.environ.get("BENCH_AB_SIMS", "1000"))
    truths = {
        "aa": (0.0, "rollback"),
        "boundary": (seq.max_auc_drop, "rollback"),
        "margin": (seq.min_detectable_auc_drop, "promote"),
        "worse": (seq.max_auc_drop + seq.min_detectable_auc_drop, "promote"),
    }
    rng = np.random.default_rng(2026)
    start = time.perf_counter()
    figures: dict[str, Any] = {"bench": "ab_validity", "simulations": sims, "looks": ab.iterations}
    for mode in ("shadow", "split"):
        rows = planned_rows(mode, seq, rng)
        found: dict[str, Any] = {"planned_labelled_customers": rows}
        for truth, (drop, false) in truths.items():
            runs = [
                experiment(mode, drop, rows, ab.iterations, seq, ab.failure_limit, rng) for _ in range(sims)
            ]
            for rule in ("new", "old", "old_first_look"):
                decided = [r[rule] for r in runs]
                found[f"{truth}_{rule}"] = {
                    d: round(decided.count(d) / sims, 4) for d in sorted(set(decided))
                }
                found[f"{truth}_{rule}_false"] = round(decided.count(false) / sims, 4)
        found["false_decision_rate_new"] = max(found[f"{t}_new_false"] for t in ("aa", "boundary", "margin"))
        found["false_decision_rate_old"] = max(found[f"{t}_old_false"] for t in ("aa", "boundary", "margin"))
        found["false_rollback_at_boundary_old_first_look"] = found["boundary_old_first_look_false"]
        found["power_rollback_worse"] = found["worse_new"].get("rollback", 0.0)
        found["power_promote_aa"] = found["aa_new"].get("promote", 0.0)
        figures[mode] = found
    target = ab.alpha + 0.01
    figures.update(
        {
            "alpha": ab.alpha,
            "target_false_decision_rate": target,
            "target_power": ab.power,
            "shadow_over_split_customers": round(
                figures["shadow"]["planned_labelled_customers"]
                / figures["split"]["planned_labelled_customers"],
                4,
            ),
            "seconds": round(time.perf_counter() - start, 1),
            "met": all(
                figures[m]["false_decision_rate_new"] <= target
                and figures[m]["power_rollback_worse"] >= ab.power
                and figures[m]["power_promote_aa"] >= ab.power
                for m in ("shadow", "split")
            )
            and sims >= 1000,
        }
    )
    return report(figures)


if __name__ == "__main__":
    entry(main)
