"""Emit OpenLineage run events by config (lineage.backend: file, http, console, none). Lineage never fails a step
and never loses an event: one that cannot be delivered is logged once as a warning and appended to the spool,
<workspace>/lineage/spool.jsonl, which uc4_01 delivers later."""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.lineage.events import RunContext, run_event
from common.settings import LineageCfg
from common.workspace import Workspace

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from common.step import StepResult

log = logging.getLogger(__name__)
EVENTS_FILE = "events.jsonl"
SPOOL_FILE = "spool.jsonl"
# the run the next step or pipeline belongs to: set by a pipeline (and run_all) around its steps
_parent: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("lineage_parent", default=None)


class Lineage:
    """Run events of one workspace to the configured backend; `spooled` counts what waits for delivery."""

    def __init__(self, cfg: LineageCfg, ws: Workspace) -> None:
        self.cfg, self.dir = cfg, ws.root / "lineage"
        self.spooled = 0
        self._client: OpenLineageClient | None = None
        self._warned = False

    def start(self, job: str, job_type: str) -> RunContext:
        """A new run of `job` under the current parent run; emits START."""
        from openlineage.client.uuid import generate_new_uuid

        ctx = RunContext(job, str(generate_new_uuid()), job_type, _parent.get())
        self._send("START", ctx)
        return ctx

    def complete(self, ctx: RunContext, result: StepResult | None = None) -> None:
        self._send("COMPLETE", ctx, result)

    def fail(self, ctx: RunContext, error: str) -> None:
        self._send("FAIL", ctx, error=error)

    def _send(
        self, state: str, ctx: RunContext, result: StepResult | None = None, error: str | None = None
    ) -> None:
        if self.cfg.backend == "none":  # not even built
            return
        try:
            event = run_event(state, ctx, self.cfg.namespace, result, error)
        except (
            KeyError,
            TypeError,
            ValueError,
        ) as exc:  # a step's facts of the wrong shape: the step goes on
            log.error(
                "lineage: the %s event of %s could not be built: %s: %s",
                state,
                ctx.job,
                type(exc).__name__,
                exc,
            )
            return
        self.emit(event)

    @contextmanager
    def parent(self, ctx: RunContext) -> Iterator[None]:
        """Runs started in the block belong to `ctx`."""
        token = _parent.set(ctx)
        try:
            yield
        finally:
            _parent.reset(token)

    def emit(self, event: RunEvent) -> None:
        """Deliver `event`, or spool it; never raises."""
        try:
            self.client().emit(event)
        # Lineage must never fail a step: any delivery error (connection, timeout, HTTP status, disk) is spooled.
        except Exception as exc:
            self._spool(event, exc)

    def client(self) -> OpenLineageClient:
        if self._client is None:
            self._client = make_client(self.cfg, self.dir)
        return self._client

    def _spool(self, event: RunEvent, exc: BaseException) -> None:
        from openlineage.client.serde import Serde

        if not self._warned:  # once per process, not once per event
            log.warning(
                "lineage: cannot deliver to the %s backend (%s: %s); events are spooled in %s",
                self.cfg.backend,
                type(exc).__name__,
                exc,
                self.dir / SPOOL_FILE,
            )
            self._warned = True
        try:
            append_line(self.dir / SPOOL_FILE, json.dumps(Serde.to_dict(event), sort_keys=True))
        except OSError as disk:  # nowhere left to keep it: say so loudly, the step still goes on
            log.error("lineage: event %s of %s lost: %s", event.eventType, event.job.name, disk)
            return
        self.spooled += 1


def make_client(cfg: LineageCfg, folder: Any) -> OpenLineageClient:
    """The client for `cfg`'s backend; configured explicitly, so no openlineage.yml or env var is read, and
    without the sourceCodeLocation facet, so events are reproducible."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    if cfg.backend == "file":
        folder.mkdir(parents=True, exist_ok=True)
        transport: Any = JsonLinesTransport(folder / EVENTS_FILE)
    elif cfg.backend == "http":
        key = cfg.api_key.get_secret_value()
        extra: dict[str, Any] = {"auth": ApiKeyTokenProvider({"api_key": key})} if key else {}
        # no retries here: an event not delivered at once is spooled, and the step does not wait
        http = HttpConfig(
            url=cfg.url, endpoint=cfg.endpoint, timeout=cfg.timeout_s, retry={"total": 0}, **extra
        )
        transport = HttpTransport(http)
    else:
        transport = ConsoleTransport(ConsoleConfig())
    return OpenLineageClient(
        transport=transport, config={"facets": {"source_code_location": {"disabled": True}}}
    )


def append_line(path: Any, line: str) -> None:
    """One line appended whole: O_APPEND writes of a line do not interleave between processes. After a line a
    killed writer tore (no newline at the end), the new one starts on a line of its own, so only the torn one is
    lost (and quarantined by its reader), never the next."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        torn = size and os.pread(fd, 1, size - 1) != b"\n"
        os.write(fd, (("\n" if torn else "") + line + "\n").encode())
    finally:
        os.close(fd)


class JsonLinesTransport:
    """OpenLineage's file backend with append_line's guarantees: each event one whole line, a torn last line
    never glued to the next event. (The client's FileTransport opens the file in text mode and writes.)"""

    kind = "jsonlines"

    def __init__(self, path: Path) -> None:
        self.path = path

    def emit(self, event: Any) -> None:
        from openlineage.client.serde import Serde

        from common.redact import redact

        append_line(self.path, redact(Serde.to_json(event)))

    def close(self, timeout: float = -1) -> bool:
        return True


_instances: dict[tuple[str, str], Lineage] = {}


def lineage_for(cfg: LineageCfg, ws: Workspace) -> Lineage:
    """One emitter per workspace and config in a process (the client is built once)."""
    key = (str(ws.root), cfg.model_dump_json())
    if key not in _instances:
        _instances[key] = Lineage(cfg, ws)
    return _instances[key]
