"""An OpenLineage HTTP receiver for the team stack on a laptop without containers: it accepts run events at
POST /api/v1/lineage (the path of Marquez and of OpenLineage's HTTP transport), appends each to a JSONL file, and
answers 201. With Docker, deploy/compose/ runs Marquez instead, with its web UI.

    python deploy/team/lineage_receiver.py --port 5002 --out var/team-stack/lineage/events.jsonl

A body that is not a JSON object with an eventType, a run and a job is refused with 400 and not stored.
GET /api/v1/lineage/count answers the number of events stored: a health check a person can read."""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PATH = "/api/v1/lineage"
MAX_BODY = 1 << 20


def acceptable(event: Any) -> str:
    """ "" when `event` is a run event; else why not."""
    if not isinstance(event, dict):
        return "the body is not a JSON object"
    missing = [k for k in ("eventType", "eventTime", "run", "job") if k not in event]
    return f"missing {', '.join(missing)}" if missing else ""


def handler(out: Path) -> type[BaseHTTPRequestHandler]:
    lock, stored = threading.Lock(), [sum(1 for _ in out.open()) if out.exists() else 0]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path.rstrip("/") != PATH or not 0 < length <= MAX_BODY:
                self._answer(
                    404 if self.path.rstrip("/") != PATH else 400, {"error": "POST one event to " + PATH}
                )
                return
            try:
                event = json.loads(self.rfile.read(length))
            except ValueError as exc:
                self._answer(400, {"error": f"not JSON: {exc}"})
                return
            if why := acceptable(event):
                self._answer(400, {"error": why})
                return
            with lock, out.open("a") as fh:
                fh.write(json.dumps(event, separators=(",", ":")) + "\n")
                stored[0] += 1
            self._answer(201, {})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == f"{PATH}/count":
                self._answer(200, {"events": stored[0]})
            else:
                self._answer(404, {"error": f"GET {PATH}/count"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per event would drown the stack's log

    return Receiver


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file events are appended to")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer((args.host, args.port), handler(args.out)).serve_forever()


if __name__ == "__main__":
    main()
