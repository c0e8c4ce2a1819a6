"""Telemetry off in every process: the machines are offline and scripts run from cron."""

from __future__ import annotations

import os

OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_OFFLINE": "1",
    "GE_USAGE_STATISTICS_ENABLED": "False",
    "FEAST_USAGE": "False",
}


def disable_telemetry() -> None:
    for name, value in OFF.items():
        os.environ.setdefault(name, value)
