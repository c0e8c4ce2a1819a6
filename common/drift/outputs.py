"""What a drift check leaves behind: Prometheus metrics (a textfile-collector file, or a push to a Pushgateway),
and the retrain history that the cool-down and the "never twice" rule read."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import ServiceUnavailableError
from common.workspace import Workspace

log = logging.getLogger(__name__)
JOB = "churn_drift"
DECISIONS = ("retrain", "none", "insufficient_data")
NO_NEW_DATA = "no_new_data"  # a retrain found nothing newer than the champion's data: not an attempt


def metrics_registry(summary: dict[str, Any]) -> Any:
    """The check's figures as a Prometheus registry: share, per-column scores and verdicts, the per-column
    tests under false-discovery control, the performance estimated without labels, rows, decision."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    model = [summary["model"]["name"], summary["model"]["version"]]
    labels = ["model_name", "version"]
    Gauge("mlops_drift_share", "Share of the dataset's columns drifted", labels, registry=registry).labels(
        *model
    ).set(summary["share"])
    score = Gauge(
        "mlops_drift_column_score",
        "Drift score per column (the method's distance or p-value)",
        [*labels, "column", "method"],
        registry=registry,
    )
    detected = Gauge(
        "mlops_drift_column_detected", "1 when the column drifted", [*labels, "column"], registry=registry
    )
    for column in summary["columns"]:
        score.labels(*model, column["column"], column["method"]).set(column["score"])
        detected.labels(*model, column["column"]).set(int(column["detected"]))
    _fdr_gauges(registry, summary, labels, model)
    _estimate_gauges(registry, summary.get("estimated_performance"), labels, model)
    rows = Gauge("mlops_drift_rows_compared", "Rows compared", [*labels, "side"], registry=registry)
    rows.labels(*model, "current").set(summary["rows"]["compared"])
    rows.labels(*model, "current_window").set(summary["rows"]["current"])
    rows.labels(*model, "reference").set(summary["rows"]["reference"])
    decision = Gauge(
        "mlops_drift_decision", "1 for the decision taken", [*labels, "decision"], registry=registry
    )
    for name in DECISIONS:
        decision.labels(*model, name).set(int(summary["decision"] == name))
    Gauge("mlops_drift_last_run_timestamp_seconds", "When the check ran", registry=registry).set(
        datetime.fromisoformat(summary["checked_at"]).timestamp()
    )
    return registry


def _fdr_gauges(registry: Any, summary: dict[str, Any], labels: list[str], model: list[str]) -> None:
    """Per column: the BH-adjusted p-value, the effect size and our verdict (drift.fdr, drift.min_effect)."""
    from prometheus_client import Gauge

    tested = summary.get("fdr", {}).get("columns", [])
    if not tested:
        return
    per_column = [*labels, "column"]
    adjusted = Gauge(
        "mlops_drift_column_p_adjusted", "Benjamini-Hochberg adjusted p-value", per_column, registry=registry
    )
    effect = Gauge(
        "mlops_drift_column_effect", "Effect size (PSI)", [*per_column, "method"], registry=registry
    )
    drifted = Gauge(
        "mlops_drift_column_fdr_drifted",
        "1 when the column drifted under drift.fdr with effect >= drift.min_effect",
        per_column,
        registry=registry,
    )
    for t in tested:
        adjusted.labels(*model, t["column"]).set(t["p_adjusted"])
        effect.labels(*model, t["column"], t["effect_method"]).set(t["effect"])
        drifted.labels(*model, t["column"]).set(int(t["drifted"]))


def _estimate_gauges(
    registry: Any, found: dict[str, Any] | None, labels: list[str], model: list[str]
) -> None:
    """CBPE's estimated ROC AUC (and precision, recall), the holdout's calibration error, and the realized ROC
    AUC beside them when labels arrived."""
    from prometheus_client import Gauge

    if found is None:
        return
    Gauge(
        "mlops_drift_estimated_roc_auc", "ROC AUC estimated without labels (CBPE)", labels, registry=registry
    ).labels(*model).set(found["estimated"]["roc_auc"])
    estimated = Gauge(
        "mlops_drift_estimated_metric",
        "Metric estimated without labels (CBPE)",
        [*labels, "metric"],
        registry=registry,
    )
    for name, value in found["estimated"].items():
        estimated.labels(*model, name).set(value)
    Gauge(
        "mlops_drift_calibration_error", "The holdout's expected calibration error", labels, registry=registry
    ).labels(*model).set(found["calibration_error"])
    if found.get("realized_roc_auc") is not None:
        Gauge("mlops_drift_realized_roc_auc", "ROC AUC on labelled rows", labels, registry=registry).labels(
            *model
        ).set(found["realized_roc_auc"])


def publish(summary: dict[str, Any], textfile: Path, pushgateway_url: str) -> str:
    """Push to the Pushgateway when one is configured, else write the textfile (atomically, as the
    collector expects); returns where the metrics went."""
    from prometheus_client import write_to_textfile

    from common.pushgateway import push
    from common.redact import without_credentials

    registry = metrics_registry(summary)
    if not pushgateway_url:
        textfile.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(textfile), registry)  # a temporary file renamed into place
        return str(textfile)
    try:
        return push(pushgateway_url, JOB, registry)
    except OSError as exc:  # URLError and connection errors: the gateway is down, a transient failure
        raise ServiceUnavailableError(
            f"Pushgateway {without_credentials(pushgateway_url)} (drift.pushgateway_url): {exc}"
        ) from exc


def history_file(ws: Workspace) -> Path:
    return ws.dir("state") / "drift_retrains.jsonl"


def retrains(ws: Workspace) -> list[dict[str, Any]]:
    """Every retrain drift triggered, oldest first (append-only)."""
    path = history_file(ws)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record_retrain(ws: Workspace, entry: dict[str, Any]) -> None:
    with history_file(ws).open("a") as fh:
        fh.write(json.dumps({**entry, "at": datetime.now(UTC).isoformat(timespec="seconds")}) + "\n")


def hours_since_last(ws: Workspace, now: datetime) -> float | None:
    found = [r for r in retrains(ws) if r["status"] != NO_NEW_DATA]
    if not found:
        return None
    return (now - datetime.fromisoformat(found[-1]["at"])).total_seconds() / 3600
