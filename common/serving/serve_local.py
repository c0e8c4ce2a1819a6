"""Make the local model server serve a spec: nothing to do when it already does (a canary beside the same version,
UC2's experiment, is left running), else check the port and switch (or start) the server. A version that failed
to load before, its artifacts unchanged, is not tried again, and one that fails now is tagged so in the registry.
Shared by UC1's serving step, UC2's canary and decision, and UC6's local reconciler."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from common.serving import local_server
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from common.model.version import ModelVersion

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


def switch(cfg: Settings, ws: Workspace, spec: dict[str, Any], targets: list[ModelVersion]) -> int:
    """Serve `spec` (the versions `targets`) in place of what serves now; its pid. VersionLoadError when one of
    them failed to load before (not tried) or now (tagged serving.load_failed): what served before answers on."""
    from common.serving.versions import failed_to_load, mark_load_failed

    for target in targets:
        why = failed_to_load(cfg, ws, target)
        if why:
            raise local_server.VersionLoadError(why, target.version)
    try:
        return local_server.replace(ws, spec, cfg.serving.ready_timeout_s)
    except local_server.VersionLoadError as exc:
        mark_load_failed(cfg, ws, exc.version, str(exc))
        raise


def ensure(cfg: Settings, ws: Workspace, spec: dict[str, Any], target: ModelVersion) -> dict[str, Any]:
    """Serve `spec` (the version `target`); returns changed, pid, and the canary version left beside it (or
    None)."""
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
    return {"changed": True, "pid": switch(cfg, ws, spec, [target]), "canary": None}
