"""The HTTP headers the model server process reads and writes, shared by its modules (server, split, app)."""

from __future__ import annotations

import time
from typing import Any

VERSION_HEADER = "x-model-version"  # every answer names the version that gave it
RECEIVED_HEADER = "x-mlops-received"  # when the request reached the server (common.serving.app.stamp_arrival)


def received(headers: Any) -> float:
    """When the request reached the server (perf_counter), as stamped on its headers; else now."""
    try:
        return float((headers or {})[RECEIVED_HEADER])
    except (KeyError, TypeError, ValueError):
        return time.perf_counter()
