"""Bad lines and files are moved aside, never fatal for the rest: a torn line of a lineage spool or events file,
an inference-log file Parquet cannot read. Each goes to <workspace>/quarantine/<kind>/ with a warning naming it,
and a line in quarantine/index.jsonl says what, from where and why; the good data is still processed, and the
counts show in the step's figures and on the reports page."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
INDEX = "index.jsonl"


def _folder(ws: Workspace, kind: str) -> Path:
    return ws.dir("quarantine", kind)


def _note(ws: Workspace, entry: dict[str, Any]) -> None:
    from common.lineage.emitter import append_line

    append_line(ws.dir("quarantine") / INDEX, json.dumps(entry, default=str))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def move_file(ws: Workspace, path: Path, kind: str, why: str) -> Path:
    """Move `path` into quarantine/<kind>/ (a copy when it cannot be moved); returns where it went."""
    dest = _folder(ws, kind) / f"{_stamp()}_{path.name}"
    try:
        os.replace(path, dest)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(path, dest)
        path.unlink(missing_ok=True)
    log.warning("quarantined %s (%s): moved to %s", path, why, dest)
    _note(
        ws, {"at": _stamp(), "kind": kind, "what": str(path), "moved_to": str(dest), "why": why, "items": 1}
    )
    return dest


def keep_lines(ws: Workspace, source: Path, kind: str, lines: list[str], why: str) -> Path | None:
    """Copy `lines` of `source` (that the reader skips) into quarantine/<kind>/, once: the same lines seen again
    on a later run are not counted twice. Returns where they went, or None when they were there already."""
    if not lines:
        return None
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    dest = _folder(ws, kind) / f"{source.name}.{digest}.lines"
    if dest.exists():
        return None
    write_text(dest, "\n".join(lines) + "\n")  # whole or not at all: a torn copy would hide the lines
    log.warning(
        "quarantined %d line(s) of %s (%s): kept in %s, the rest is read", len(lines), source, why, dest
    )
    entry = {"kind": kind, "what": str(source), "moved_to": str(dest), "why": why, "items": len(lines)}
    _note(ws, {"at": _stamp(), **entry})
    return dest


def counts(ws: Workspace) -> dict[str, int]:
    """Items quarantined so far, by kind (what the reports page shows)."""
    path = ws.root / "quarantine" / INDEX
    found: dict[str, int] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        found[entry["kind"]] = found.get(entry["kind"], 0) + int(entry.get("items", 1))
    return found


def parse_lines(ws: Workspace, path: Path, kind: str) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSON-lines file; lines that are not one (torn by a kill) are kept in quarantine and
    skipped. Returns (objects, lines skipped)."""
    good, bad = [], []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if isinstance(item, dict):
            good.append(item)
        else:
            bad.append(line)
    keep_lines(ws, path, kind, bad, "not a JSON object (a line torn by a killed writer?)")
    return good, len(bad)
