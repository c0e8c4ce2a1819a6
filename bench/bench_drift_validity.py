"""Benchmark the validity of UC3's drift rules: how often they call for a retrain when nothing changed, whether the
drifted story still fires, and how close CBPE's ROC AUC, estimated without labels, comes to the realized one.

200 windows of WINDOW customers drawn from the unchanged population are compared with a 10,000-row reference, on
the default table (12 columns) and on a 40-column one (28 synthetic columns added, numeric and categorical, that
never change). Per window, Evidently's stattests (the functions its ValueDrift / DataDriftPreset run, called
directly so the 200 windows take seconds; the first windows are checked against a full Evidently Report) give each
column's K-S / chi-square p-value, its PSI, and Evidently's own default verdict. Judged side by side:
- new: the `columns` rule, Benjamini-Hochberg at drift.fdr and PSI >= drift.min_effect (target: <= 5 % false
  retrains on either table);
- anchors: Evidently's per-column verdicts with the share rule (drift.share_threshold), and any column's raw
  p-value < 0.05 without correction.
Then 20 drifted windows (sample_data's drift), a 200,000-row window with a trivial shift (age + 1 year), and CBPE
on every window with a logistic regression trained on the reference (calibrated; its holdout ECE reported).
With BENCH_NANNYML_PYTHON pointing at an interpreter that has nannyml, NannyML's CBPE estimates the same drifted
window for comparison.

    .venv/bin/python bench/bench_drift_validity.py          # BENCH_VALIDITY_WINDOWS=200 to choose the count
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from benchlib import entry, report

if TYPE_CHECKING:
    import pandas as pd

WINDOW, REFERENCE, HOLDOUT, DRIFTED_WINDOWS = 2000, 10_000, 10_000, 20
CBPE_TOLERANCE = 0.03


@dataclass
class Setup:
    narrow: Any  # the default dataset's columns (DatasetCfg)
    wide: Any  # and the 40-column table's
    cfg: Any  # DriftCfg: the defaults judge
    fitted: Any = None  # the model whose probabilities CBPE reads
    reference: dict[str, Any] = field(default_factory=dict)  # prepared() once

    @property
    def features(self) -> list[str]:
        return [*self.narrow.numeric, *self.narrow.categorical]


def extra_columns(n: int, seed: int) -> pd.DataFrame:
    """The 28 synthetic columns of the wide table: 18 numeric, 10 categorical, the same law in every draw."""
    import pandas as pd

    rng = np.random.default_rng([seed, 99])
    out: dict[str, Any] = {}
    for i in range(18):
        kind = i % 3
        out[f"n{i}"] = (
            rng.normal(10 * i, 1 + i, n)
            if kind == 0
            else rng.lognormal(1 + i / 10, 0.5, n).round(2)
            if kind == 1
            else rng.poisson(1 + i, n).astype(float)
        )
    for i in range(10):
        levels = [f"l{j}" for j in range(3 + i % 4)]
        out[f"c{i}"] = rng.choice(
            levels, n, p=np.linspace(1, 2, len(levels)) / np.linspace(1, 2, len(levels)).sum()
        )
    return pd.DataFrame(out)


def table(n: int, seed: int, drift: bool = False) -> pd.DataFrame:
    import pandas as pd

    from common.data.sample_data import generate

    return pd.concat([generate(n, seed=seed, drift=drift), extra_columns(n, seed)], axis=1)


def prepared(df: pd.DataFrame, ds: Any) -> dict[str, pd.Series]:
    """Each column as compare.column_tests hands it to Evidently (numbers as floats, categories as text), without
    its missing values, as Evidently's get_one_column_drift drops them. Categories as plain objects: the same
    counts as pandas' string dtype, several times faster to count (the report check below compares)."""
    from common.drift.compare import _typed

    typed = _typed(df, ds)
    return {c: typed[c].dropna().astype(object if c in ds.categorical else "float64") for c in typed.columns}


def column_stats(reference: dict[str, pd.Series], current: pd.DataFrame, ds: Any) -> list[dict[str, Any]]:
    """Per column what compare.column_tests has Evidently compute (p-value, PSI), and Evidently's default
    method's verdict (what DataDriftPreset decides), through Evidently's own stattest functions; `reference`
    as prepared() makes it, once."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    from common.drift.compare import EFFECT, HOMOGENEITY, NUM_TEST, register_homogeneity

    register_homogeneity()
    cur = prepared(current, ds)
    found = []
    for column in [*ds.numeric, *ds.categorical]:
        kind = ColumnType.Numerical if column in ds.numeric else ColumnType.Categorical
        r, c = reference[column], cur[column]

        def run(method: str | None, r: Any = r, c: Any = c, kind: Any = kind) -> Any:
            return get_stattest(r, c, kind, method)(r, c, kind, None)

        test = NUM_TEST if kind == ColumnType.Numerical else HOMOGENEITY
        p, effect, default = run(test), run(EFFECT), run(None)
        found.append(
            {
                "column": column,
                "test": test,
                "p_value": float(p.drift_score),
                "effect_method": EFFECT,
                "effect": float(effect.drift_score),
                "evidently_detected": bool(default.drifted),
            }
        )
    return found


def verdicts(stats: list[dict[str, Any]], cfg: Any) -> dict[str, bool]:
    """Each rule's call on one window, through the decision layer where it has one."""
    from common.drift.decision import Findings, decide
    from common.drift.statistics import judge_columns

    judged = judge_columns(stats, cfg.fdr, cfg.min_effect)
    evidently = [s["column"] for s in stats if s["evidently_detected"]]
    findings = Findings(WINDOW, len(evidently) / len(stats), evidently, len(stats), tested=judged)
    fired = decide(findings, cfg, None).fired
    return {
        "new_columns_rule": "columns" in fired,
        "bh_alone_any_column": any(j["p_adjusted"] <= cfg.fdr for j in judged),  # the rule without its floor
        "old_share_rule": "share" in fired,
        "old_any_evidently_column": bool(evidently),
        "raw_p_any_column": any(s["p_value"] < 0.05 for s in stats),
        "raw_p_share_rule": sum(s["p_value"] < 0.05 for s in stats) / len(stats) >= cfg.share_threshold,
    }


def rates(calls: list[dict[str, bool]]) -> dict[str, float]:
    return {rule: round(sum(c[rule] for c in calls) / len(calls), 4) for rule in calls[0]}


def model(reference: pd.DataFrame, narrow: Any) -> Any:
    """A logistic regression on the 12 columns: calibrated by construction, the kind CBPE can trust."""
    from common.model.training import make_model

    types = {**{c: "float" for c in narrow.numeric}, **{c: "string" for c in narrow.categorical}}
    fitted = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 2000}, types)
    return fitted.fit(reference[list(types)], reference["churn"])


def cbpe_gap(setup: Setup, window: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from common.drift.statistics import cbpe

    p = setup.fitted.predict_proba(window[setup.features])[:, 1]
    estimated, realized = cbpe(p, 0.5)["roc_auc"], float(roc_auc_score(window["churn"], p))
    return {"estimated": estimated, "realized": realized, "gap": abs(estimated - realized)}


def gap_summary(gaps: list[dict[str, float]]) -> dict[str, float]:
    g = np.array([x["gap"] for x in gaps])
    return {
        "mean_abs_gap": round(float(g.mean()), 4),
        "p95_abs_gap": round(float(np.quantile(g, 0.95)), 4),
        "max_abs_gap": round(float(g.max()), 4),
        "within_tolerance": round(float((g <= CBPE_TOLERANCE).mean()), 4),
        "mean_estimated": round(float(np.mean([x["estimated"] for x in gaps])), 4),
        "mean_realized": round(float(np.mean([x["realized"] for x in gaps])), 4),
    }


def report_agrees(reference: pd.DataFrame, window: pd.DataFrame, setup: Setup) -> float:
    """The largest difference between the direct stattest figures and a full Evidently Report's."""
    from common.drift.compare import column_tests

    direct = column_stats(setup.reference, window, setup.wide)
    _, full = column_tests(reference, window, setup.wide)
    return max(
        max(abs(a["p_value"] - b["p_value"]), abs(a["effect"] - b["effect"]))
        for a, b in zip(direct, full, strict=True)
    )


def nannyml_estimate(python: str, holdout: pd.DataFrame, window: pd.DataFrame) -> dict[str, Any]:
    """NannyML's CBPE on the same data (its own interpreter: it is not in the project's environment)."""
    code = (
        "import sys, json, pandas as pd, nannyml as nml\n"
        "ref, ana = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])\n"
        "est = nml.CBPE(y_pred_proba='p', y_pred='pred', y_true='y', problem_type='classification_binary',\n"
        "    metrics=['roc_auc', 'precision', 'recall'], chunk_number=1)\n"
        "df = est.fit(ref).estimate(ana).to_df()  # the reference period's chunk first, the analysis one last\n"
        "out = {m: float(df[(m, 'value')].iloc[-1]) for m in ('roc_auc', 'precision', 'recall')}\n"
        "print(json.dumps({**out, 'recalibrated': bool(est.needs_calibration)}))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "reference.parquet", Path(tmp) / "analysis.parquet"]
        holdout.to_parquet(paths[0])
        window.drop(columns="y").to_parquet(paths[1])
        done = subprocess.run(
            [python, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=600
        )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"}
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def tables() -> tuple[Any, Any]:
    """The default dataset's columns, and the wide table's: theirs and the 28 synthetic ones."""
    from common.config import load_config
    from common.settings import DatasetCfg

    ds, extra = load_config(environ={}).dataset, extra_columns(1, 0)
    numeric = [c for c in extra.columns if c.startswith("n")]
    categorical = [c for c in extra.columns if c.startswith("c")]
    narrow = DatasetCfg(numeric=list(ds.numeric), categorical=list(ds.categorical), expectations={})
    wide = DatasetCfg(
        numeric=[*ds.numeric, *numeric], categorical=[*ds.categorical, *categorical], expectations={}
    )
    return narrow, wide


def judge(seeds: range, drift: bool, setup: Setup) -> dict[str, Any]:
    """Every rule's calls on the windows of `seeds`, on both tables (the 12 columns are the same draws), the
    columns flagged per window, and CBPE's gaps."""
    from common.drift.statistics import judge_columns

    cfg = setup.cfg
    calls: dict[str, list[dict[str, bool]]] = {"12_columns": [], "40_columns": []}
    flagged: dict[str, list[tuple[int, int]]] = {"12_columns": [], "40_columns": []}
    gaps = []
    for seed in seeds:
        window = table(WINDOW, seed, drift)
        stats = column_stats(setup.reference, window, setup.wide)
        for name, kept in (
            ("12_columns", [s for s in stats if s["column"] in setup.features]),
            ("40_columns", stats),
        ):
            calls[name].append(verdicts(kept, cfg))
            judged = judge_columns(kept, cfg.fdr, cfg.min_effect)
            flagged[name].append((sum(s["p_value"] < 0.05 for s in kept), sum(j["drifted"] for j in judged)))
        gaps.append(cbpe_gap(setup, window))
    return {
        "rates": {name: rates(c) for name, c in calls.items()},
        "flagged": {
            name: {
                "raw_p": round(float(np.mean([f[0] for f in got])), 3),
                "new": round(float(np.mean([f[1] for f in got])), 3),
            }
            for name, got in flagged.items()
        },
        "cbpe": gap_summary(gaps),
    }


def trivial_shift(setup: Setup) -> dict[str, Any]:
    """200,000 unchanged customers but age + 1 year (0.08 sd): significant by any test, immaterial by PSI."""
    from common.drift.statistics import judge_columns

    big = table(200_000, 7)
    big["age"] += 1
    stats = column_stats(setup.reference, big, setup.wide)
    judged = judge_columns(stats, setup.cfg.fdr, setup.cfg.min_effect)
    age = next(j for j in judged if j["column"] == "age")
    return {
        "rows": len(big),
        "calls_40_columns": verdicts(stats, setup.cfg),
        "age": {"p_adjusted": age["p_adjusted"], "psi": round(age["effect"], 4), "counted": age["drifted"]},
    }


def big_drifted(holdout: pd.DataFrame, setup: Setup) -> dict[str, Any]:
    """CBPE on one 20,000-row drifted window (little sampling noise): ours, the realized, NannyML's."""
    import pandas as pd
    from sklearn.metrics import precision_score, recall_score

    from common.drift.statistics import cbpe

    window = table(20_000, 77, drift=True)
    out: dict[str, Any] = {k: round(v, 4) for k, v in cbpe_gap(setup, window).items()}
    p, y = setup.fitted.predict_proba(window[setup.features])[:, 1], window["churn"]
    ours = cbpe(p, 0.5)
    out["precision"] = {
        "estimated": round(ours["precision"], 4),
        "realized": round(precision_score(y, p >= 0.5), 4),
    }
    out["recall"] = {"estimated": round(ours["recall"], 4), "realized": round(recall_score(y, p >= 0.5), 4)}
    python = os.environ.get("BENCH_NANNYML_PYTHON", "")
    if python:

        def frame(df: pd.DataFrame) -> pd.DataFrame:
            p = setup.fitted.predict_proba(df[setup.features])[:, 1]
            return pd.DataFrame({"p": p, "pred": (p >= 0.5).astype(int), "y": df["churn"].to_numpy()})

        out["nannyml"] = nannyml_estimate(python, frame(holdout), frame(window))
    return out


def main() -> int:
    from sklearn.metrics import roc_auc_score

    from common.config import load_config
    from common.drift.statistics import expected_calibration_error

    began = time.perf_counter()
    setup = Setup(*tables(), load_config(environ={}).drift)
    reference, holdout = table(REFERENCE, 1), table(HOLDOUT, 2)
    setup.fitted, setup.reference = model(reference, setup.narrow), prepared(reference, setup.wide)
    held = setup.fitted.predict_proba(holdout[setup.features])[:, 1]
    count = int(os.environ.get("BENCH_VALIDITY_WINDOWS", "200"))
    unchanged = judge(range(1000, 1000 + count), False, setup)
    drifted = judge(range(5000, 5000 + DRIFTED_WINDOWS), True, setup)
    big = big_drifted(holdout, setup)
    false_rates = [unchanged["rates"][t]["new_columns_rule"] for t in ("12_columns", "40_columns")]
    return report(
        {
            "bench": "drift_validity",
            "windows": count,
            "window_rows": WINDOW,
            "reference_rows": REFERENCE,
            "fdr": setup.cfg.fdr,
            "min_effect": setup.cfg.min_effect,
            "share_threshold": setup.cfg.share_threshold,
            "false_retrain_rate": unchanged["rates"],
            "columns_flagged_per_unchanged_window": unchanged["flagged"],
            "drifted_fire_rate": drifted["rates"],
            "trivial_shift": trivial_shift(setup),
            "cbpe": {
                "holdout_ece": round(expected_calibration_error(holdout["churn"].to_numpy(), held), 4),
                "holdout_roc_auc": round(float(roc_auc_score(holdout["churn"], held)), 4),
                "unchanged_windows": unchanged["cbpe"],
                "drifted_windows": drifted["cbpe"],
                "drifted_20000_rows": big,
            },
            "report_max_abs_diff": max(
                report_agrees(reference, table(WINDOW, s), setup) for s in (1000, 1001)
            ),
            "seconds": round(time.perf_counter() - began, 1),
            "met": max(false_rates) <= 0.05
            and drifted["rates"]["40_columns"]["new_columns_rule"] == 1.0
            and unchanged["cbpe"]["mean_abs_gap"] <= CBPE_TOLERANCE
            and drifted["cbpe"]["mean_abs_gap"] <= CBPE_TOLERANCE
            and big["gap"] <= CBPE_TOLERANCE,
        }
    )


if __name__ == "__main__":
    entry(main)
