"""One fairness analysis of a model's scored rows: per sensitive feature and per intersection of them the groups'
metrics with intervals, the disparities over groups large enough to judge, the What-If views, and the verdict
against thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from common.fairness import metrics, whatif
from common.fairness.whatif import Scorer
from common.settings import FairnessCfg, Settings


def analyse(
    rows: Any,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    score: Scorer | None,
    cfg: Settings,
    out: Path,
) -> dict[str, Any]:
    """`rows` hold the sensitive features (and the model's inputs, for the flip rate when `score` is given).
    Each of fairness.intersections is one more feature whose groups are the combinations of its parts'."""
    from common.features.engineering import feature_types

    fc = cfg.fairness
    pred = (proba >= threshold).astype(np.int64)
    features = sensitive_groups(rows, fc)
    inputs = feature_types(cfg.features, cfg.dataset)
    found = judge(y, pred, features, fc)
    parts = {JOIN.join(i): i for i in fc.intersections}
    for name, groups in features.items():
        judged = ~np.isin(groups, found[name]["small_groups"])
        found[name] |= {
            "parts": parts.get(name, [name]),
            "equal_tpr_thresholds": whatif.equal_tpr_thresholds(y[judged], proba[judged], groups[judged]),
            # not a model input (dataset.attributes): the model cannot see it, so there is nothing to flip; an
            # intersection's parts have their own flip rates
            "flip_rate": None
            if score is None or name not in inputs
            else whatif.flip_rate(rows, name, score, threshold, cfg.dataset, cfg.features),
            "model_input": name in inputs,
            "plots": [p.name for p in whatif.plots(y, proba, groups, _file_name(name), out)],
        }
    findings = verdict(found, fc.thresholds)
    violations = [f["text"] for f in findings if f["status"] == "beyond"]
    inconclusive = [f["text"] for f in findings if f["status"] == "straddles"]
    return {
        "rows": len(y),
        "threshold": threshold,
        "bootstrap_rounds": fc.bootstrap_rounds,
        "min_group_size": fc.min_group_size,
        "thresholds": fc.thresholds,
        "features": found,
        "findings": findings,
        "violations": violations,
        "inconclusive": inconclusive,
        "verdict": verdict_of(violations, inconclusive, fc.enforce, fc.block_inconclusive),
        "enforce": fc.enforce,
        "block_inconclusive": fc.block_inconclusive,
    }


def judge(
    y: np.ndarray, pred: np.ndarray, features: dict[str, np.ndarray], fc: FairnessCfg
) -> dict[str, dict[str, Any]]:
    """Per feature: its groups' metrics with bootstrap intervals (a group under fairness.min_group_size marked
    small), and the disparities with their intervals over the groups large enough to judge."""
    tables = {name: metrics.by_group(y, pred, groups) for name, groups in features.items()}
    smalls = {
        name: sorted(g for g, row in table.items() if (row["count"] or 0) < fc.min_group_size)
        for name, table in tables.items()
    }
    kept = {name: [g for g in table if g not in smalls[name]] for name, table in tables.items()}
    intervals = metrics.bootstrap(y, pred, features, fc.bootstrap_rounds, fc.seed, judged=kept)
    return {
        name: {
            "groups": {
                g: {**row, "interval": intervals[name][g], "small": g in smalls[name]}
                for g, row in table.items()
            },
            "small_groups": smalls[name],
            "disparities": metrics.disparities_of({g: table[g] for g in kept[name]}),
            # 95 % bootstrap intervals of the disparities over the same groups: what the verdict judges
            "disparity_intervals": intervals[name][metrics.DISPARITY_KEY],
            "judged_rows": int(np.isin(features[name], kept[name]).sum()),
        }
        for name, table in tables.items()
    }


JOIN = " & "  # an intersection's name ("gender & age_group") and its groups' labels ("Female & 60+")


def sensitive_groups(rows: Any, fc: FairnessCfg) -> dict[str, np.ndarray]:
    """The group label of every row, per sensitive feature and per intersection (its parts' labels joined)."""
    names = dict.fromkeys([*fc.sensitive_features, *(p for i in fc.intersections for p in i)])
    single = {f: groups_of(rows[f], f, fc.max_groups) for f in names}
    out = {f: single[f] for f in fc.sensitive_features}
    for parts in fc.intersections:
        out[JOIN.join(parts)] = combined([single[p] for p in parts])
    return out


def combined(labels: list[np.ndarray]) -> np.ndarray:
    """One label per row from several: "Female" and "60+" make "Female & 60+"."""
    out = labels[0].astype(object)
    for more in labels[1:]:
        out = out + JOIN + more.astype(object)
    return out.astype(str)


def _file_name(name: str) -> str:
    """A feature's name as a file name: an intersection "gender & age_group" as gender_x_age_group."""
    return name.replace(JOIN, "_x_")


def verdict_of(violations: list[str], inconclusive: list[str], enforce: str, block_inconclusive: bool) -> str:
    """The one word every output uses (the JSON, the page, the card, the log, the version tag, run_all):
    passed (every interval within its threshold), inconclusive (an interval straddles one, none is past),
    warn (a violation reported, fairness.enforce: warn) or failed (blocked: a violation under enforce: block,
    or an inconclusive one with fairness.block_inconclusive too)."""
    blocking = enforce == "block"
    if violations:
        return "failed" if blocking else "warn"
    if inconclusive:
        return "failed" if blocking and block_inconclusive else "inconclusive"
    return "passed"


MISSING = "(missing)"


def groups_of(values: Any, name: str, max_groups: int) -> np.ndarray:
    """A sensitive feature's values as group labels: text as it is, whole numbers without a fraction (a 0/1
    flag that reads as floats is groups "0" and "1"), missing values as one group. More than `max_groups`
    distinct values is a config error: the column is not a group label."""
    import pandas as pd

    from common.data.schema import group_text
    from common.errors import ConfigError

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) > max_groups:
        raise ConfigError(
            f"fairness.sensitive_features {name}: {len(uniques)} distinct values, more than fairness.max_groups "
            f"{max_groups}; a sensitive feature is a group label: bin it (features.derived bins) or raise the limit"
        )
    labels = np.array([*(group_text(u) for u in uniques), MISSING], dtype=object)
    return labels[codes].astype(str)  # code -1 (missing) reads the last label


def check_features(cfg: Settings) -> None:
    """Each sensitive feature, and each part of an intersection, is a column of the dataset (an input or one of
    dataset.attributes) or a derived bin or flag; UC5's check of its config, run by run_all before any use case
    starts. How many groups a column holds is known only from the data: the analysis refuses more than
    fairness.max_groups."""
    from common.errors import ConfigError

    ds = cfg.dataset
    known = {*ds.inputs, *ds.attributes, *(d.name for d in cfg.features.derived if d.bins or d.flag)}
    where = (
        "a column of the dataset (dataset.numeric, dataset.categorical, dataset.attributes) or a derived bin "
        "or flag"
    )
    unknown = [f for f in cfg.fairness.sensitive_features if f not in known]
    if unknown:
        raise ConfigError(f"fairness.sensitive_features {unknown}: not {where}; known: {sorted(known)}")
    for parts in cfg.fairness.intersections:
        unknown = [p for p in parts if p not in known]
        if unknown:
            raise ConfigError(
                f"fairness.intersections {parts}: {', '.join(unknown)} not {where}; known: {sorted(known)}"
            )
        if len(set(parts)) < len(parts):
            raise ConfigError(
                f"fairness.intersections {parts}: a column twice; an intersection joins different ones"
            )


def verdict(found: dict[str, Any], thresholds: Mapping[Any, float]) -> list[dict[str, Any]]:
    """Every feature and thresholded disparity whose interval is not wholly on the good side of its threshold
    (below it for a difference, above it for a ratio): "beyond" when the whole interval is past it, "straddles"
    when the threshold lies inside it. Without an interval (too few rows to resample) the value is judged."""
    findings = []
    for feature, result in found.items():
        for metric, limit in thresholds.items():
            value = result["disparities"].get(metric)
            if value is None:
                continue
            low, high = result.get("disparity_intervals", {}).get(metric) or [None, None]
            low, high = (value, value) if low is None or high is None else (low, high)
            ratio = metric.endswith("_ratio")
            best, worst = (high, low) if ratio else (low, high)  # the interval's ends, good side first
            if not _past(worst, limit, ratio):
                continue
            status = "beyond" if _past(best, limit, ratio) else "straddles"
            side = "under" if ratio else "over"
            text = (
                f"{feature}: {metric} {value:.3f} [{low:.3f}, {high:.3f}] {side} fairness.thresholds.{metric} "
                f"{limit:g}"
                if status == "beyond"
                else f"{feature}: {metric} {value:.3f}, interval [{low:.3f}, {high:.3f}] straddles "
                f"fairness.thresholds.{metric} {limit:g}{_settled_by(value, low, high, limit, result)}"
            )
            findings.append(
                {
                    "feature": feature,
                    "metric": metric,
                    "value": value,
                    "interval": [low, high],
                    "limit": limit,
                }
                | {"status": status, "text": text}
            )
    return findings


def _past(value: float, limit: float, ratio: bool) -> bool:
    """On the bad side of the threshold: under it for a ratio, over it for a difference."""
    return value < limit if ratio else value > limit


def _settled_by(value: float, low: float, high: float, limit: float, result: dict[str, Any]) -> str:
    """How many more rows would settle a straddling interval, if the disparity stayed where it is: an interval
    narrows as one over the square root of the rows, so the end that crosses the threshold (reach from the
    estimate) stops crossing it at n * (reach / distance)^2 rows."""
    distance, rows = abs(value - limit), result.get("judged_rows", 0)
    reach = (value - low) if value > limit else (high - value)
    if distance == 0 or rows == 0:
        return " (the estimate sits on the threshold: more rows alone would not settle it)"
    more = int(np.ceil(rows * (reach / distance) ** 2)) - rows
    return f"; about {max(more, 1):,} more rows would settle it, if the disparity stays at {value:.3f}"
