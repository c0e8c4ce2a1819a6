"""Intents: an act on shared state (aliases, what is served, git, a registry) is recorded before it starts and
cleared once it is done, so a rerun finds what a kill interrupted and finishes it, whatever the aliases now say.
<workspace>/state/intents/<name>.json, written whole (atomic rename).

`boundary(name)` marks a point between two acts; with MLOPS_KILL_AT=<name> in the environment the process kills
itself there with SIGKILL, as a power cut would: the tests use it to prove that a rerun converges."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from common.workspace import Workspace, write_text

KILL_AT = "MLOPS_KILL_AT"


def _path(ws: Workspace, name: str) -> Path:
    return ws.dir("state", "intents") / f"{name}.json"


def record(ws: Workspace, name: str, data: dict[str, Any]) -> None:
    write_text(_path(ws, name), json.dumps(data, indent=2, default=str))


def pending(ws: Workspace, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(_path(ws, name).read_text())
    except (FileNotFoundError, ValueError):  # none; a torn one cannot be, the write is atomic
        return None


def clear(ws: Workspace, name: str) -> None:
    _path(ws, name).unlink(missing_ok=True)


def boundary(name: str) -> None:
    """A point between two acts, where a kill is tested (MLOPS_KILL_AT)."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
