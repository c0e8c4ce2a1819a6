"""Make the local model server serve a spec: nothing to do when it already does (a canary beside the same version,
UC2's experiment, is left running), else check the port and replace the server. Shared by UC1's serving step and
UC6's local reconciler."""

from __future__ import annotations

import json
import logging
from typing import Any

from common.serving import local_server
from common.workspace import Workspace

log = logging.getLogger(__name__)


def served(ws: Workspace, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The running server's record when it serves `spec` and answers as itself, else None."""
    current = local_server.state(ws)
    if current is None:
        return None
    # a canary beside the same champion (UC2's experiment) is left out: replacing it would end the experiment
    running = {k: v for k, v in current["spec"].items() if k != "canary"}
    if running == json.loads(json.dumps(spec)) and local_server.answers_as(current["spec"], current["pid"]):
        return current
    return None


def ensure(ws: Workspace, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Serve `spec`; returns changed, pid, and the canary version left beside it (or None)."""
    current = served(ws, spec)
    if current is not None:
        beside = current["spec"].get("canary", {}).get("version_spec", {}).get("version")
        log.info(
            "version %s is already served on port %s%s: nothing to do",
            spec["version"],
            current["port"],
            f" (with version {beside} as its canary)" if beside else "",
        )
        return {"changed": False, "pid": current["pid"], "canary": beside}
    local_server.check_port(spec, local_server.state(ws))
    pid = local_server.replace(ws, spec, timeout_s)
    return {"changed": True, "pid": pid, "canary": None}
