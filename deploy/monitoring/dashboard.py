"""Write grafana/dashboards/churn-mlops.json: the panels and their PromQL, kept here as data so the JSON is never
edited by hand. `python deploy/monitoring/dashboard.py` rewrites it; a test checks that it is current and runs
every expression against a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).parent / "grafana" / "dashboards" / "churn-mlops.json"
M = 'model_name=~"$model"'
RATE = "[$__rate_interval]"
REQUESTS = f"sum by (version) (rate(mlops_ab_requests_total{{{M}}}{RATE}))"

# title, kind, unit, expressions (legend), grid width
PANELS = [
    ("Requests per second, by version", "timeseries", "reqps", [(REQUESTS, "v{{version}}")], 8),
    (
        "Error ratio, by version",
        "timeseries",
        "percentunit",
        [(f"sum by (version) (rate(mlops_ab_errors_total{{{M}}}{RATE})) / {REQUESTS}", "v{{version}}")],
        8,
    ),
    (
        "Latency p95, by version",
        "timeseries",
        "s",
        [
            (
                "histogram_quantile(0.95, sum by (le, version) "
                f"(rate(mlops_ab_request_seconds_bucket{{{M}}}{RATE})))",
                "v{{version}}",
            )
        ],
        8,
    ),
    (
        "Canary split: share of requests, by version",
        "timeseries",
        "percentunit",
        [
            (
                f"{REQUESTS} / ignoring (version) group_left sum(rate(mlops_ab_requests_total{{{M}}}{RATE}))",
                "v{{version}}",
            )
        ],
        8,
    ),
    (
        "Predicted churn rate, by version",
        "timeseries",
        "percentunit",
        [
            (
                f"sum by (version) (rate(mlops_ab_positive_predictions_total{{{M}}}{RATE})) / sum by (version) "
                f"(rate(mlops_ab_predictions_total{{{M}}}{RATE}))",
                "v{{version}}",
            )
        ],
        8,
    ),
    (
        "Drift share (UC3), by version checked",
        "timeseries",
        "percentunit",
        [(f"max by (version) (mlops_drift_share{{{M}}})", "v{{version}}")],
        8,
    ),
    ("Champion version", "stat", "none", [(f"max(mlops_model_champion_version{{{M}}})", "champion")], 6),
    (
        "Champion's holdout metrics",
        "stat",
        "none",
        [(f"max by (metric) (mlops_model_metric{{{M}}})", "{{metric}}")],
        18,
    ),
    (
        "Pipeline durations (last run)",
        "timeseries",
        "s",
        [("max by (pipeline) (mlops_pipeline_last_duration_seconds)", "{{pipeline}}")],
        12,
    ),
    (
        "Pipeline failures: failed runs, and the last run failed",
        "timeseries",
        "none",
        [
            ("max by (pipeline) (mlops_pipeline_failed_runs)", "{{pipeline}} failed runs"),
            ("1 - max by (pipeline) (mlops_pipeline_last_success)", "{{pipeline}} last failed"),
        ],
        12,
    ),
    (
        "Hours since each pipeline's last run",
        "stat",
        "h",
        [("(time() - max by (pipeline) (mlops_pipeline_last_run_timestamp_seconds)) / 3600", "{{pipeline}}")],
        24,
    ),
]


def panel(
    i: int, title: str, kind: str, unit: str, exprs: list[tuple[str, str]], width: int, x: int, y: int
) -> dict:
    return {
        "id": i + 1,
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + j),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"uid": "prometheus"},
            }
            for j, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard() -> dict:
    panels, x, y = [], 0, 0
    for i, (title, kind, unit, exprs, width) in enumerate(PANELS):
        if x + width > 24:
            x, y = 0, y + 8
        panels.append(panel(i, title, kind, unit, exprs, width, x, y))
        x += width
    model = {
        "name": "model",
        "label": "model",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "query": "label_values(mlops_ab_requests_total, model_name)",
        "includeAll": True,
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
    }
    return {
        "uid": "churn-mlops",
        "title": "Churn MLOps: serving, canary, drift, champion, pipelines",
        "tags": ["mlops", "churn"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [model]},
        "panels": panels,
    }


def expressions(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(OUT)
