"""What a pipeline run leaves for Prometheus: its duration, status and end time, its failures so far, the rows its
steps handled; and the champion's version and holdout metrics, once for the workspace. A textfile-collector file
per pipeline (<workspace>/metrics/pipeline_<name>.prom, the champion's pipeline_champion.prom), or a push to the
Pushgateway (monitoring.pushgateway_url) grouped the same way, so one pipeline's push never replaces another's."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from common.model.version import ModelVersion

log = logging.getLogger(__name__)
JOB = "mlops_pipeline"
CHAMPION = "champion"  # the group (and file) of the champion's figures, apart from any one pipeline's


def registry_for(name: str, runs: list[dict[str, Any]], rows: dict[str, int]) -> Any:
    """The figures of pipeline `name` from its recorded runs (the last one is this run): pure, no I/O."""
    from prometheus_client import CollectorRegistry, Gauge

    registry, last = CollectorRegistry(), runs[-1]
    labels = {"pipeline": name}

    def gauge(metric: str, doc: str, value: float, **extra: str) -> None:
        names = [*labels, *extra]
        Gauge(metric, doc, names, registry=registry).labels(**labels, **extra).set(value)

    gauge("mlops_pipeline_last_duration_seconds", "How long the last run took", last["duration_s"])
    gauge("mlops_pipeline_last_success", "1 when the last run succeeded", int(last["status"] == "ok"))
    gauge("mlops_pipeline_last_exit_code", "The last run's exit code", last["exit_code"])
    ended = datetime.fromisoformat(last["ended_at"]).timestamp()
    gauge("mlops_pipeline_last_run_timestamp_seconds", "When the last run ended", ended)
    failed = sum(r["status"] not in ("ok", "locked") for r in runs)
    gauge("mlops_pipeline_failed_runs", "Runs that failed, of the recorded history", failed)
    if rows:
        steps = Gauge(
            "mlops_pipeline_step_rows", "Rows a step handled", ["pipeline", "step"], registry=registry
        )
        for step, n in rows.items():
            steps.labels(name, step).set(n)
    return registry


def champion_registry(champion: ModelVersion) -> Any:
    """The champion's version and holdout metrics: one set for the workspace, whichever pipeline saw it last, so a
    dashboard never reads an older champion from another pipeline's figures."""
    from prometheus_client import CollectorRegistry, Gauge

    registry, model = CollectorRegistry(), {"model_name": champion.name}
    version = Gauge("mlops_model_champion_version", "The champion's version", [*model], registry=registry)
    version.labels(**model).set(int(champion.version))
    metric = Gauge(
        "mlops_model_metric",
        "The champion's holdout metrics",
        [*model, "version", "metric"],
        registry=registry,
    )
    for key, value in champion.metrics.items():
        metric.labels(champion.name, champion.version, key).set(value)
    return registry


def publish(cfg: Settings, ws: Workspace, name: str, steps: list[str]) -> str | None:
    """Write or push the figures of the run of `name` just recorded, and the champion's. They are a record of
    the run, not part of it: a Pushgateway that does not answer or a file that cannot be written is a warning,
    never the run's failure. Returns where the pipeline's figures went."""
    from common import history

    runs = history.read(ws, name=name)
    if not runs:
        return None
    where = _send(cfg, ws, registry_for(name, runs, _rows(ws, steps)), name)
    champion = _champion(cfg, ws)
    if champion is not None:
        _send(cfg, ws, champion_registry(champion), CHAMPION)
    return where


def _send(cfg: Settings, ws: Workspace, registry: Any, group: str) -> str | None:
    from prometheus_client import write_to_textfile

    from common.pushgateway import push
    from common.redact import without_credentials

    url = cfg.monitoring.pushgateway_url
    try:
        if not url:
            path = ws.dir("metrics") / f"pipeline_{group}.prom"
            write_to_textfile(str(path), registry)  # a temporary file renamed into place
            return str(path)
        return push(url, JOB, registry, {"pipeline": group})
    except OSError as exc:
        where = (
            f"the Pushgateway {without_credentials(url)} (monitoring.pushgateway_url)"
            if url
            else ws.dir("metrics")
        )
        log.warning("%s figures not written to %s: %s", group, where, exc)
        return None


def _rows(ws: Workspace, steps: list[str]) -> dict[str, int]:
    found = {step: ws.result(step) for step in steps}
    return {
        s: int(r.metrics["rows"]) for s, r in found.items() if r and isinstance(r.metrics.get("rows"), int)
    }


def _champion(cfg: Settings, ws: Workspace) -> ModelVersion | None:
    """The champion as the registry has it; none yet (or no registry yet) leaves its figures out."""
    if not cfg.mlflow.tracking_uri and not (ws.root / "mlflow" / "mlflow.db").exists():
        return None  # nothing trained in this workspace: no need to create a registry to find that out
    from common.model.version import find

    return find(cfg, ws, "champion")
