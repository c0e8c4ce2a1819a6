"""Step 01: compare what the champion was trained on (the data version behind its registry tag) with what it
sees now (the server's inference log of the last drift.window_hours, or the newest validated data), with
Evidently: per-column drift, the drifted share, per-column p-values and PSI judged under false-discovery control,
the churn probability against the champion's holdout predictions, ROC AUC estimated without labels (CBPE) and
ROC AUC / recall on labels that arrived (drift.feedback_table). Decides `retrain`, `none` or `insufficient_data`
with its reasons and the rules that fired (drift.share_threshold, drift.prediction_drift,
drift.max_performance_drop, drift.fdr, drift.max_estimated_auc_drop, side by side); writes the Evidently HTML
reports and a JSON summary under <workspace>/reports/drift/, and Prometheus metrics (textfile, or
drift.pushgateway_url). Exits 0 whatever it decides: step 02 acts on the decision."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.cli import step_main
from common.drift.current import Current, from_inference_log, from_latest_extract
from common.drift.decision import Findings, decide
from common.drift.outputs import hours_since_last, publish
from common.drift.reference import reference_frame
from common.errors import ServiceUnavailableError
from common.model.lookup import holdout_predictions
from common.model.version import ModelVersion, require
from common.redact import redact
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, atomic_path, write_text
from uc3_drift_retraining import USE_CASE

ROLE = "drift"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc3_drift_retraining.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    now = datetime.now(UTC)
    champion = require(cfg, ws, cfg.drift.alias)
    reference = reference_frame(cfg, ws, champion.trained_on())
    current = (
        from_inference_log(cfg, ws, now, champion.version)  # the champion's own answers, not a canary's
        if cfg.drift.current == "inference_log"
        else from_latest_extract(cfg, ws, champion)
    )
    stamp = f"{now:%Y%m%dT%H%M%SZ}"
    folder = ws.dir("reports", "drift")
    compared = _compare(cfg, ws, champion, reference, current, folder, stamp)
    found = Findings(
        current.rows,
        compared["share"],
        [c["column"] for c in compared["columns"] if c["detected"]],
        len(compared["columns"]),
        compared["performance"]["drops"],
        compared["performance"]["labelled"],
        compared["prediction"],
        compared["tested"],
        compared["estimate"],
    )
    verdict = decide(found, cfg.drift, hours_since_last(ws, now))
    summary = _summary(cfg, champion, current, reference, compared, verdict.to_dict(), now)
    summary["decision_id"] = f"v{champion.version} {current.key}"
    try:
        summary["metrics_at"] = redact(
            publish(summary, ws.dir("metrics") / "drift.prom", cfg.drift.pushgateway_url)
        )
    except (
        ServiceUnavailableError
    ) as exc:  # the decision stands and is written; the gauges wait for the next run
        log.warning("drift metrics not published: %s", exc)
        summary["metrics_at"] = None
        summary["metrics_error"] = redact(str(exc))
    report = folder / f"drift_{stamp}.json"
    write_text(report, json.dumps(summary, indent=2, default=str))
    write_text(folder / "latest.json", json.dumps(summary, indent=2, default=str))
    log.info("drift: %s (%s); report %s", verdict.decision, "; ".join(verdict.reasons), report)
    return _result(cfg, ws, champion, current, summary, report)


def _compare(
    cfg: Settings,
    ws: Workspace,
    champion: ModelVersion,
    reference: Any,
    current: Current,
    folder: Path,
    stamp: str,
) -> dict[str, Any]:
    """Evidently's comparisons, when there are rows enough to compare; their HTML reports are written."""
    out: dict[str, Any] = {"share": 0.0, "columns": [], "prediction": None, "html": {}, "tested": None}
    out["estimate"] = None
    out["performance"] = {"labelled": 0, "now": {}, "drops": {}, "holdout": champion.metrics}
    if current.rows < cfg.drift.min_rows or current.frame.empty:
        return out
    from common.drift.compare import column_tests, data_drift, prediction_drift
    from common.drift.statistics import judge_columns

    snapshot, out["columns"], out["share"] = data_drift(
        reference, current.frame, cfg.dataset, cfg.drift.share_threshold
    )
    out["html"]["data_drift"] = _save(snapshot, folder / f"drift_{stamp}.html")
    snapshot, tests = column_tests(reference, current.frame, cfg.dataset)
    out["tested"] = judge_columns(tests, cfg.drift.fdr, cfg.drift.min_effect)
    out["html"]["column_tests"] = _save(snapshot, folder / f"column_tests_{stamp}.html")
    out["performance"] = _performance(cfg, ws, champion, current)
    holdout = holdout_predictions(cfg, ws, champion.run_id)
    if holdout is not None:
        snapshot, out["prediction"] = prediction_drift(
            holdout["churn_probability"].to_numpy(), current.frame["churn_probability"].to_numpy()
        )
        out["html"]["prediction_drift"] = _save(snapshot, folder / f"prediction_drift_{stamp}.html")
        out["estimate"] = _estimate(cfg, champion, holdout, current, out["performance"]["now"])
    return out


def _estimate(
    cfg: Settings, champion: ModelVersion, holdout: Any, current: Current, realized: dict[str, float]
) -> dict[str, Any] | None:
    """CBPE on the window's probabilities; its calibration is the champion's holdout's, measured here from the
    holdout predictions its training run logged (labels and probabilities). Beside it, the realized ROC AUC
    when labels arrived. None when the holdout has no labels or one class only."""
    from sklearn.metrics import roc_auc_score

    from common.drift.statistics import estimate

    target = cfg.dataset.target
    if target not in holdout.columns or holdout[target].nunique() < 2:
        return None
    labels, proba = holdout[target].to_numpy().astype(int), holdout["churn_probability"].to_numpy()
    auc = champion.metrics.get("roc_auc")  # as the gate recorded it
    if auc is None:
        auc = float(roc_auc_score(labels, proba))
    now = current.frame["churn_probability"].dropna().to_numpy()  # a row without a probability says nothing
    found = estimate(now, champion.threshold, (labels, proba), auc)
    found["realized_roc_auc"] = realized.get("roc_auc")
    return found


def _performance(cfg: Settings, ws: Workspace, champion: ModelVersion, current: Current) -> dict[str, Any]:
    from common.drift.compare import performance
    from common.drift.feedback import LABEL, LABELLED_AT, labels_for

    ds, frame = cfg.dataset, current.frame
    if current.labels_in_frame:
        labelled = frame.rename(columns={ds.target: LABEL})
    else:
        newest = frame.drop_duplicates(ds.id_column, keep="last")  # a customer asked twice: the latest answer
        labelled = newest.merge(labels_for(cfg, ws, newest[ds.id_column]), on=ds.id_column)
        labelled = labelled[labelled[LABELLED_AT] >= labelled["ts"]]  # an outcome known after the prediction
    now, drops = performance(
        labelled[LABEL].to_numpy(),
        labelled["churn_probability"].to_numpy(),
        champion.threshold,
        champion.metrics,
        cfg.drift.min_labelled_rows,
    )
    return {"labelled": len(labelled), "now": now, "drops": drops, "holdout": champion.metrics}


def _save(snapshot: Any, dest: Path) -> str:
    with atomic_path(dest) as tmp:
        snapshot.save_html(str(tmp))  # self-contained: Evidently inlines its scripts and styles
    return str(dest)


def _summary(
    cfg: Settings,
    champion: ModelVersion,
    current: Current,
    reference: Any,
    compared: dict[str, Any],
    verdict: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "checked_at": now.isoformat(timespec="seconds"),
        **verdict,
        "model": {"name": champion.name, "version": champion.version, "alias": cfg.drift.alias},
        "reference": {"data_tag": champion.data_tag, "rows": len(reference)},
        "current": {
            "mode": cfg.drift.current,
            "source": current.source,
            "sampled": current.sampled,
            "quarantined_files": current.quarantined,
        },
        "rows": {"current": current.rows, "compared": len(current.frame), "reference": len(reference)},
        "share": round(compared["share"], 4),
        "share_threshold": cfg.drift.share_threshold,
        "drifted": [c["column"] for c in compared["columns"] if c["detected"]],
        "columns": compared["columns"],
        "fdr": {"q": cfg.drift.fdr, "min_effect": cfg.drift.min_effect, "columns": compared["tested"] or []},
        "fdr_drifted": [t["column"] for t in compared["tested"] or [] if t["drifted"]],
        "prediction_drift": compared["prediction"],
        "estimated_performance": compared["estimate"],
        "performance": compared["performance"],
        "reports": compared["html"],
    }


def _result(
    cfg: Settings,
    ws: Workspace,
    champion: ModelVersion,
    current: Current,
    summary: dict[str, Any],
    report: Path,
) -> StepResult:
    from common.data.registry import data_path

    reference_uri = f"dvc://{ws.root / 'data-registry'}/{data_path(cfg)}@{champion.data_tag}"
    return StepResult(
        step=STEP,
        outputs={
            "decision": summary["decision"],
            "reasons": summary["reasons"],
            "rules_fired": summary["rules_fired"],
            "decision_id": summary["decision_id"],
            "drifted": summary["drifted"],
            "fdr_drifted": summary["fdr_drifted"],
            "model_version": champion.version,
            "data_tag": champion.data_tag,
            "report": str(report),
            "html": summary["reports"],
            "metrics_at": summary["metrics_at"],
            "sampled": current.sampled,
        },
        metrics={
            "share": summary["share"],
            **{f"rows_{k}": v for k, v in summary["rows"].items()},
            "quarantined": current.quarantined,  # log files that could not be read, moved aside
        },
        datasets_read=[reference_uri, current.uri, f"models:/{champion.name}/{champion.version}"],
        datasets_written=[report.as_uri()],
    )


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
