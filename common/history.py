"""The run history: every step, pipeline and run_all run, one JSON line each, appended to
<workspace>/state/history.jsonl (what Airflow's and Prefect's run lists give, without a server). After each record
the reports page is rebuilt, so it always shows the newest run."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from common.errors import exit_code_for, exit_status
from common.workspace import Workspace

log = logging.getLogger(__name__)
KINDS = ("step", "pipeline", "run_all")
MAX_FIGURES = 12  # the key figures of a summary, not all of them: a line stays short
TAIL_BLOCK = 64 * 1024
PAGE_ROWS = 100  # the runs the reports page lists, newest first


@dataclass
class Entry:
    """What a run in progress reports before it ends: its status, exit code and key figures."""

    status: str = "ok"
    exit_code: int = 0
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def history_file(ws: Workspace) -> Path:
    """<workspace>/state/history.jsonl."""
    return ws.dir("state") / "history.jsonl"


@contextlib.contextmanager
def recorded(ws: Workspace, kind: str, name: str) -> Iterator[Entry]:
    """Record the block as one run of `name`: its start, end, status, exit code, duration and figures. A block
    that raises is recorded as failed with the exit code its error maps to, then the error goes on."""
    from common.redact import redact

    entry, started, clock = Entry(), now(), time.monotonic()
    try:
        yield entry
    except SystemExit as exc:  # a sys.exit inside the run: its own status, as the process would end
        entry.exit_code = exit_status(exc)
        entry.status = "failed" if entry.exit_code else entry.status
        entry.error = f"SystemExit: exit {entry.exit_code}" if entry.exit_code else ""
        raise
    except BaseException as exc:  # recorded whatever ends the run, Ctrl-C included, then raised unchanged
        entry.status, entry.error = "failed", redact(str(exc) or type(exc).__name__)[:500]
        entry.exit_code = exit_code_for(exc) if isinstance(exc, Exception) else 130
        raise
    finally:
        duration = round(time.monotonic() - clock, 3)
        times = {"started_at": started, "ended_at": now(), "duration_s": duration}
        _safely(lambda: append(ws, {"kind": kind, "name": name, **times, **_fields(entry)}))
        rebuild_page(ws)


def record_refused(ws: Workspace, kind: str, name: str, exc: Exception) -> None:
    """A run that never started (its lock was held): a line with status `locked` and no duration."""
    from common.redact import redact

    at = now()
    line = {"kind": kind, "name": name, "started_at": at, "ended_at": at, "duration_s": 0.0, "figures": {}}
    code = exit_code_for(exc)
    _safely(lambda: append(ws, {**line, "status": "locked", "exit_code": code, "error": redact(str(exc))}))
    rebuild_page(ws)


def append(ws: Workspace, record: dict[str, Any]) -> None:
    """One line, written whole by one O_APPEND write under a lock: concurrent cron runs never interleave."""
    from common.redact import redact

    line = (redact(json.dumps(record, default=str, sort_keys=True)) + "\n").encode()
    fd = os.open(history_file(ws), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a killed writer's torn line: ours starts afresh
            line = b"\n" + line
        os.write(fd, line)
    finally:
        os.close(fd)


def read(ws: Workspace, limit: int | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """The recorded runs (of `name`, when given), oldest first: the last `limit` of them, read from the file's
    end, so a page of the newest runs costs the same after years of cron. A line a killed writer tore is skipped."""
    try:
        with history_file(ws).open("rb") as source:
            lines = _tail(source, limit) if limit else source.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    runs = []
    wanted = (
        f'"name": {json.dumps(name)}' if name else ""
    )  # as append() writes it: only those lines are parsed
    for line in reversed(lines):  # newest first, so only the lines wanted are parsed
        if wanted not in line:
            continue
        with contextlib.suppress(json.JSONDecodeError):
            runs.append(json.loads(line))
        if limit and len(runs) == limit:
            break
    return runs[::-1]


def _tail(source: BinaryIO, limit: int) -> list[str]:
    """The last `limit` lines (or more), read backwards a block at a time."""
    end = pos = source.seek(0, os.SEEK_END)
    data = b""
    while pos > 0 and data.count(b"\n") <= limit:
        pos = max(0, pos - TAIL_BLOCK)
        source.seek(pos)
        data = source.read(end - pos)
    lines = data.decode(errors="replace").splitlines()
    return lines[1:] if pos > 0 else lines  # the first may be cut


def figures_of(values: dict[str, Any]) -> dict[str, Any]:
    """The scalar values of a summary (numbers rounded, text cut), the first MAX_FIGURES of them."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool | int | str) or value is None:
            out[key] = value[:120] if isinstance(value, str) else value
        elif isinstance(value, float):
            out[key] = round(value, 4)
        if len(out) == MAX_FIGURES:
            break
    return out


def rebuild_page(ws: Workspace) -> None:
    """The reports page after a run; a page that cannot be written is a warning, never the run's failure."""
    from common.report.page import build

    _safely(lambda: build(ws, read(ws, PAGE_ROWS)))


def _safely(action: Callable[[], object]) -> None:
    """History and page are a record of the run, not part of it: whatever stops them (a full disk, a report
    name that is not UTF-8) is logged, and neither hides the run's own outcome nor fails it."""
    try:
        action()
    except Exception as exc:  # any failure here is reported, never raised
        log.warning("the run history or reports page was not updated: %s: %s", type(exc).__name__, exc)


def _fields(entry: Entry) -> dict[str, Any]:
    return {
        "status": entry.status,
        "exit_code": entry.exit_code,
        "figures": entry.figures,
        "error": entry.error,
    }


def now() -> str:
    """The time now, as the history writes it (UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
