"""Step 01 of UC4: deliver the lineage spool (<workspace>/lineage/spool.jsonl: events a step could not deliver) to
the configured backend, idempotently by run id: an event delivered before is counted as already present, never
sent twice. With --backfill it also sends the lineage of every step result recorded in the workspace, so a user who
sets up Marquez later gets the history. Reports the counts sent, already present and failed; events still
undelivered go back to the spool and the step fails (exit 1) naming how many."""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from common.cli import base_parser, execute, run_step
from common.errors import ConfigError, ServiceUnavailableError
from common.lineage.emitter import SPOOL_FILE, append_line, make_client
from common.redact import without_credentials
from common.settings import LineageCfg, Settings
from common.step import StepResult
from common.workspace import Workspace
from uc4_data_lineage import USE_CASE

ROLE = "deliver_lineage"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
LEDGER_FILE = "delivered.jsonl"  # one line per event delivered: its key and the backend it went to
log = logging.getLogger(f"uc4_data_lineage.{STEP}")
BACKFILL_NAMESPACE = uuid.UUID("6f0b3c52-5d7e-4c5e-9a53-3e8f1f1f0a41")  # run ids of backfilled results


def run(cfg: Settings, ws: Workspace, backfill: bool = False) -> StepResult:
    folder = ws.dir("lineage")
    if cfg.lineage.backend == "none":
        if (folder / SPOOL_FILE).exists() or backfill:
            raise ConfigError("lineage.backend is none: set it to http, file or console to deliver the spool")
        log.info("lineage.backend is none and nothing is spooled: nothing to deliver")
        return StepResult(step=STEP, status="skipped", outputs={"reason": "lineage.backend is none"})
    target = _target(cfg.lineage)
    taken, torn = _take_spool(ws, folder)
    events = [event for _, batch in taken for event in batch]
    if backfill:
        events += backfill_events(ws, cfg.lineage.namespace)
    done = _delivered(ws, folder, target)
    counts = {"sent": 0, "already_present": 0, "failed": 0, "quarantined": torn}
    client = make_client(cfg.lineage, folder)
    for event in events:
        key = event_key(event)
        if key in done:
            counts["already_present"] += 1
            continue
        if _send(client, event):
            append_line(folder / LEDGER_FILE, json.dumps({"key": key, "target": target}))
            done.add(key)
            counts["sent"] += 1
        else:  # back in the spool, for next time
            append_line(folder / SPOOL_FILE, json.dumps(event, sort_keys=True))
            counts["failed"] += 1
    for path, _ in taken:  # every event of it is delivered, or back in the spool
        path.unlink()
    log.info(
        "lineage to %s: %d sent, %d already present, %d failed, %d torn line(s) quarantined",
        target,
        *counts.values(),
    )
    if counts["failed"]:
        raise ServiceUnavailableError(
            f"{counts['failed']} lineage event(s) could not be delivered to {target} "
            f"({counts['sent']} sent); they wait in {folder / SPOOL_FILE}"
        )
    return StepResult(step=STEP, outputs={"target": target, "backfill": backfill}, metrics=counts)


def event_key(event: dict[str, Any]) -> str:
    """What makes an event the same event: its run and its state."""
    return f"{event['run']['runId']}:{event['eventType']}"


def backfill_events(ws: Workspace, namespace: str) -> list[dict[str, Any]]:
    """START and COMPLETE of every step result recorded in the workspace, with a run id fixed by the step and
    its finish time (so a second backfill sends nothing) and the recorded time."""
    from openlineage.client.serde import Serde

    from common.lineage.events import RunContext, run_event

    events = []
    recorded = {k: v for k, v in _recorded(ws).items() if k != STEP}  # this step's own runs went out live
    for name, data in sorted(recorded.items(), key=lambda item: item[1].get("finished_at", "")):
        result = StepResult.from_dict(data)
        run_id = str(uuid.uuid5(BACKFILL_NAMESPACE, f"{name}:{result.finished_at}"))
        ctx = RunContext(name, run_id, "STEP")
        when = _time(result.finished_at)
        events.append(Serde.to_dict(run_event("START", ctx, namespace, now=when)))
        events.append(Serde.to_dict(run_event("COMPLETE", ctx, namespace, result, now=when)))
    return events


def _recorded(ws: Workspace) -> dict[str, dict[str, Any]]:
    path = ws.root / "state" / "steps.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _time(stamp: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(stamp) if stamp else datetime.now(UTC)


def _target(cfg: LineageCfg) -> str:
    """The backend's identity in the ledger: an event delivered to one Marquez is not delivered to another."""
    if cfg.backend != "http":
        return cfg.backend
    return f"{without_credentials(cfg.url).rstrip('/')}/{cfg.endpoint}"  # recorded in the ledger: no secret


def _take_spool(ws: Workspace, folder: Path) -> tuple[list[tuple[Path, list[dict[str, Any]]]], int]:
    """The spooled events, taken whole: the spool is moved aside first, so events spooled meanwhile by another
    process land in a new spool. A file taken by a run that died before it finished is taken again: the ledger
    keeps what that run delivered from being sent twice. A torn line is quarantined, the rest sent; returns the
    files with their events, and how many lines were quarantined."""
    import psutil

    from common.quarantine import parse_lines

    spool = folder / SPOOL_FILE
    if spool.exists():
        os.replace(spool, folder / f".{SPOOL_FILE}.{os.getpid()}")
    taken, torn = [], 0
    for path in sorted(folder.glob(f".{SPOOL_FILE}.*")):
        pid = int(path.suffix.lstrip(".")) if path.suffix.lstrip(".").isdigit() else 0
        if pid and pid != os.getpid() and psutil.pid_exists(pid):
            continue  # another delivery is sending it now
        events, bad = parse_lines(ws, path, "lineage-spool")
        taken.append((path, events))
        torn += bad
    return taken, torn


def _delivered(ws: Workspace, folder: Path, target: str) -> set[str]:
    from common.quarantine import parse_lines

    path = folder / LEDGER_FILE
    if not path.exists():
        return set()
    entries, _ = parse_lines(ws, path, "lineage-ledger")
    return {e["key"] for e in entries if e.get("target") == target}


def _send(client: Any, event: dict[str, Any]) -> bool:
    """Deliver one spooled event as it was built: straight to the transport, which serializes JSON as it does
    the client's events (the client itself takes only its classes, and would add facets again)."""
    try:
        client.transport.emit(event)
    # any delivery error (connection, timeout, HTTP status): the event goes back to the spool
    except Exception as exc:
        log.warning("lineage: event %s not delivered: %s: %s", event_key(event), type(exc).__name__, exc)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = base_parser(__doc__ or STEP)
    parser.add_argument(
        "--backfill", action="store_true", help="also send the lineage of every recorded step result"
    )
    args = parser.parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        return run_step(STEP, lambda c, w: run(c, w, args.backfill), cfg, ws).to_dict()

    return execute(STEP, USE_CASE, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
