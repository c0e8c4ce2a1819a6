"""What the model server process adds to KServe's app and ModelServer: metadata routes that say which process
and version answer, a request-body limit, listening on serving.host, and our log lines in server.log. Imported
only by the server process (common.serving.server)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import kserve

from common.serving.headers import RECEIVED_HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
DRAIN_MAX_BYTES = 64 << 20  # read and drop up to this much of a refused body, so the client sees the 413


class LocalModelServer(kserve.ModelServer):
    """KServe's ModelServer listening on `host`. KServe 0.21's REST server binds 0.0.0.0 whatever its caller
    wants, so a server meant for 127.0.0.1 would answer on every interface of the machine."""

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listen_host = host

    def setup_event_loop(self) -> None:
        # start() builds the REST server, calls this, then serves: the one moment its uvicorn config can change
        if self._rest_server is None:
            raise RuntimeError("kserve.ModelServer built no REST server: cannot listen on serving.host")
        self._rest_server.config.host = self.listen_host
        super().setup_event_loop()


@dataclass
class BodyLimitSetting:
    """serving.max_body_bytes of the spec served now (a model switch may change it)."""

    max_bytes: int


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413 before anything parses it. A declared Content-Length
    within the limit passes through untouched; a chunked body is read up to the limit and handed on."""

    def __init__(self, app: ASGIApp, setting: BodyLimitSetting) -> None:
        self.app = app
        self.setting = setting

    @property
    def max_bytes(self) -> int:
        return self.setting.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            return await self.app(scope, receive, send)
        length = _content_length(scope["headers"])
        if length is not None and length <= self.max_bytes:
            return await self.app(scope, receive, send)
        if length is None:
            body, complete = await _read(receive, self.max_bytes)
            if complete:
                return await self.app(scope, _replay(body, receive), send)
        await _drain(receive, DRAIN_MAX_BYTES)
        size = f"{length} bytes" if length is not None else "sent chunked"
        await _refuse(
            send, f"body: {size}, over the limit of {self.max_bytes} bytes (serving.max_body_bytes)"
        )


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body if it fits in `limit` (True), else what was read when it went over (False)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # the client went away: let the app see it
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop the rest of a refused body, up to `limit` bytes: a client still sending it would
    otherwise get a reset connection instead of the answer."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _refuse(send: Send, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def limit_body(setting: BodyLimitSetting) -> None:
    """Put the body limit on KServe's app (before it starts)."""
    from kserve.model_server import app

    app.add_middleware(BodyLimit, setting=setting)


class StampArrival:
    """Stamp each request with the time it reached the server (a header the model reads), so the latency the
    version metrics record is what a client sees, queueing included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            stamp = (RECEIVED_HEADER.encode(), repr(time.perf_counter()).encode())
            scope = {**scope, "headers": [*scope["headers"], stamp]}
        await self.app(scope, receive, send)


def stamp_arrival() -> None:
    """The outermost middleware of KServe's app: added last, it sees a request first."""
    from kserve.model_server import app

    app.add_middleware(StampArrival)


def add_metadata_routes(served: Any) -> None:
    """KServe's own metadata answers omit the version; ours come first and show the MLflow version and alias,
    and the pid, so the one who started this process can tell it from another server on the same port. They read
    what serves now: after a model switch, the new version."""
    from kserve.model_server import app

    def v1() -> dict[str, Any]:
        return {
            **about(served.current, served.spec),
            "spec_file": str(served.spec_file),
            "ready": served.current.ready,
        }

    def v2() -> dict[str, Any]:
        return {**about(served.current, served.spec), **io(served.current, served.spec)}

    app.add_api_route(f"/v1/models/{served.name}", v1, methods=["GET"])
    app.add_api_route(f"/v2/models/{served.name}", v2, methods=["GET"])


def about(model: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Which version, alias, model, threshold and scorer answer, in which process, and any canary beside it."""
    said = {
        "name": model.name,
        "mlflow_model": spec["registered_model"],
        "version": spec["version"],
        "alias": spec["alias"],
        "model_uri": spec["model_uri"],
        "decision_threshold": model.threshold,
        "scorer": model.scorer_kind,  # "compiled" (NumPy, checked against the pipeline at load) or "pipeline"
        "pid": os.getpid(),
    }
    if spec.get("canary"):  # UC2's split: the candidate's version and share
        canary = spec["canary"]
        said["canary"] = {
            "version": canary["version_spec"]["version"],
            "alias": canary["version_spec"]["alias"],
            "mode": canary.get("mode", "split"),
            "percent": canary["percent"],
            "routing": canary["routing"],
        }
    return said


def io(model: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The V2 metadata's versions, platform, inputs and outputs."""
    ds = model.ds
    id_type = "BYTES" if ds.id_type == "str" else "INT64"
    return {
        "versions": [spec["version"]],
        "platform": "mlflow_sklearn",
        "inputs": [
            {"name": ds.id_column, "datatype": id_type, "shape": [-1]},
            *({"name": c, "datatype": "FP64", "shape": [-1]} for c in ds.numeric),
            *({"name": c, "datatype": "BYTES", "shape": [-1]} for c in ds.categorical),
        ],
        "outputs": [
            {"name": n, "datatype": t, "shape": [-1]}
            for n, t in ((ds.id_column, id_type), ("churn_probability", "FP64"), ("prediction", "INT64"))
        ],
    }


def log_to_stderr() -> None:
    """Our loggers to stderr (server.log), as KServe's are; it configures only its own, after load()."""
    from common.log import FORMAT
    from common.redact import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("common")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # KServe 0.21 answers with FastAPI's ORJSONResponse, which warns on every route's first call: not ours to fix
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
