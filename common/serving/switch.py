"""A model switch without a gap, in the model server process: the public model is a `Switchable` whose current
model (one version, or UC2's split of two) is replaced in place. The new one is loaded beside the old one, off the
event loop, while the old one answers; only when it is ready does it take the next request. A version that fails
to load never takes traffic: the old one goes on and the caller is told why. The listening socket never closes,
so no connection is refused.

Why in place, rather than a second process behind a stable listener or a handed-over socket: the process already
holds the port, the metrics and the Feast store; a swap of one reference is atomic for the event loop; and the
only gap is none. What the process itself is bound to (host, port, the public name) cannot change this way: such a
spec is refused (409) and the caller restarts the server instead.

The control route is `POST /mlops/switch` with {"spec": <a spec file in the server's own folder>}, and the bearer
token of <serving folder>/control.token (made by the step that starts the server, readable by its user only)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kserve
from fastapi import Request  # at module level: FastAPI resolves the handler's annotation by name
from fastapi.responses import JSONResponse

from common.serving.local_server import SWITCH_PATH, TOKEN_FILE

log = logging.getLogger("common.serving.switch")
BOUND = (
    "host",
    "port",
    "model_name",
)  # what the process is bound to: a spec that changes them needs a restart


class Switchable(kserve.Model):
    """The public model: answers with `current`, which `switch` replaces once its successor is ready."""

    def __init__(
        self, current: Any, spec: dict[str, Any], spec_file: Path, build: Callable[[dict[str, Any]], Any]
    ) -> None:
        super().__init__(spec["model_name"], return_response_headers=True)
        self.current, self.spec, self.spec_file = current, spec, spec_file
        self.build = build  # a spec -> the model it describes, not loaded (common.serving.server.build)
        self.lock = asyncio.Lock()
        self.ready = current.ready

    def load(self) -> bool:
        return self.ready

    def stop(self) -> None:
        self.current.stop()
        super().stop()

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        return await self.current.predict(payload, headers, response_headers)

    async def switch(self, spec: dict[str, Any], spec_file: Path) -> dict[str, Any]:
        """Load `spec` beside the current model, then let it answer; the old one is stopped after."""
        async with self.lock:  # one switch at a time
            new = self.build(spec)
            try:
                await asyncio.to_thread(new.load)  # the old model answers meanwhile
            except Exception as exc:  # any failure to load: the caller is told which version
                raise LoadFailedError(failing_version(new), exc) from exc
            old, self.current, self.spec, self.spec_file = self.current, new, spec, spec_file
        log.info("switched from %s to %s", describe(old), describe(new))
        await asyncio.to_thread(old.retire)  # its last inference-log rows written, its queue drained
        return {"version": spec["version"], "canary": (spec.get("canary") or {}).get("version_spec")}


class LoadFailedError(Exception):
    """A version of the new model did not load."""

    def __init__(self, version: str, cause: Exception) -> None:
        super().__init__(f"version {version} failed to load: {type(cause).__name__}: {cause}")
        self.version = version


def failing_version(model: Any) -> str:
    """The version of `model` that is not ready after its load failed: one model's, or a split's first arm
    that did not load."""
    arms = getattr(model, "arms", None)
    if not arms:
        return str(model.version)
    return next(
        (str(a.version) for a in arms.values() if not a.ready), str(next(iter(arms.values())).version)
    )


def describe(model: Any) -> str:
    versions = getattr(model, "versions", None)
    if versions:
        return " + ".join(f"version {v}" for v in versions.values())
    return f"version {model.version}"


def refusal(running: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """Why `spec` cannot be switched to in this process, or None."""
    changed = [k for k in BOUND if running.get(k) != spec.get(k)]
    if changed:
        return f"the spec changes {changed}, which the process is bound to: restart the server"
    return None


def add_switch_route(served: Switchable, folder: Path, limit: Any) -> None:
    """POST /mlops/switch on KServe's app. `limit` is the body limit, which a switch may change."""
    from kserve.model_server import app

    token = (folder / TOKEN_FILE).read_text().strip()

    async def switch(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "a switch needs the server's control token"}, status_code=403)
        try:
            path = Path((await request.json())["spec"]).resolve()
            if path.parent != folder.resolve():
                raise ValueError(f"{path} is not a spec file of this server's folder {folder}")
            spec = json.loads(path.read_text())
        except (KeyError, TypeError, ValueError, OSError) as exc:
            return JSONResponse({"error": f"bad switch request: {exc}"}, status_code=400)
        why = refusal(served.spec, spec)
        if why:
            return JSONResponse({"error": why}, status_code=409)
        try:
            done = await served.switch(spec, path)
        except LoadFailedError as exc:  # the old model answers on
            log.error("%s; %s answers on", exc, describe(served.current))
            return JSONResponse({"error": str(exc), "version": exc.version}, status_code=500)
        limit.max_bytes = int(spec.get("max_body_bytes", limit.max_bytes))
        return JSONResponse(done)

    app.add_api_route(SWITCH_PATH, switch, methods=["POST"])
