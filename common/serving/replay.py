"""The replayed load of a canary experiment, as Iter8's load task sent it: customers of the newest validated data,
each with its id and every field, sent to the model server at a rate for a duration. It runs as a process of its
own (started by UC2 step 02, stopped by step 03, or at the end of its duration) and records every answer (id,
version, probability, the customer's label, status, latency) in responses.jsonl beside the experiment: the model
objectives that need labels read it.

    python -m common.serving.replay --experiment EXPERIMENT.json

It also replays a customers file at a server, as a user sends traffic (answers go to responses.jsonl beside it):

    python -m common.serving.replay --data var/drifted.parquet --endpoint URL --rate 200 --duration 10
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RESPONSES_FILE = "responses.jsonl"
FLUSH_S = 0.5  # how often answers reach the file


def customers(path: str, id_column: str, fields: list[str], label: str | None, seed: int = 7) -> list[dict]:
    """Every customer of the data as a request instance (missing values as null), shuffled, with its label."""
    import pandas as pd

    frame = pd.read_parquet(path, columns=[id_column, *fields, *([label] if label else [])])
    frame = frame.sample(frac=1.0, random_state=seed)
    rows = []
    for record in frame.to_dict("records"):
        instance = {
            k: (None if isinstance(v, float) and math.isnan(v) else _plain(v)) for k, v in record.items()
        }
        rows.append(
            {"instance": {k: instance[k] for k in [id_column, *fields]}, "label": instance.get(label)}
        )
    return rows


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class Load:
    """`threads` senders keep one connection each and send request i at start + i / rate."""

    def __init__(self, experiment: dict[str, Any], folder: Path) -> None:
        replay = experiment["replay"]
        self.url = urlsplit(experiment["endpoint"])
        self.rate, self.duration = float(replay["rate"]), float(replay["duration_s"])
        self.rows = customers(replay["data_path"], replay["id_column"], replay["fields"], replay.get("label"))
        self.threads = int(replay.get("threads", 8))
        self.out = folder / RESPONSES_FILE
        self.stop = threading.Event()
        self.next = itertools.count()
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.start = 0.0

    def run(self) -> int:
        self.start = time.monotonic()
        workers = [threading.Thread(target=self._send, daemon=True) for _ in range(self.threads)]
        writer = threading.Thread(target=self._write, daemon=True)
        for t in [*workers, writer]:
            t.start()
        for t in workers:
            t.join()
        self.stop.set()
        writer.join()
        return 0

    def _send(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        while not self.stop.is_set():
            i = next(self.next)
            due = self.start + i / self.rate
            if due - self.start >= self.duration:
                return
            if (wait := due - time.monotonic()) > 0 and self.stop.wait(wait):
                return
            row = self.rows[i % len(self.rows)]
            body = json.dumps({"instances": [row["instance"]]})
            sent = time.perf_counter()
            try:
                conn.request("POST", self.url.path, body, headers)
                resp = conn.getresponse()
                answer, status = resp.read(), resp.status
                version = resp.getheader("x-model-version")
            except (OSError, http.client.HTTPException):
                conn.close()  # a fresh connection for the next request
                answer, status, version = b"", 0, None
            ms = (time.perf_counter() - sent) * 1000
            self._record(row, status, version, answer, ms)

    def _record(
        self, row: dict[str, Any], status: int, version: str | None, answer: bytes, ms: float
    ) -> None:
        proba = None
        if status == 200:
            proba = json.loads(answer)["predictions"][0]["churn_probability"]
        key = next(iter(row["instance"]))
        line = {
            "id": row["instance"][key],
            "version": version,
            "status": status,
            "p": proba,
            "label": row["label"],
        }
        with self.lock:
            self.pending.append(json.dumps({**line, "ms": round(ms, 3)}))

    def _write(self) -> None:
        with self.out.open("a") as out:
            while True:
                stopped = self.stop.wait(FLUSH_S)
                with self.lock:
                    lines, self.pending = self.pending, []
                if lines:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                if stopped:
                    return


def read_responses(folder: Path) -> list[dict[str, Any]]:
    path = folder / RESPONSES_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plain(
    data: str, endpoint: str, rate: float, duration_s: float, label: str = "churn", id_column: str = ""
) -> dict[str, Any]:
    """The experiment a replay of a customers file at an endpoint is: every column but the label and the event
    time is a field, the first column is the id."""
    import pyarrow.parquet as pq

    columns = pq.read_schema(data).names
    key = id_column or columns[0]
    if key not in columns:
        raise ValueError(f"{data} has no column {key!r} (--id-column); it has {', '.join(columns)}")
    fields = [c for c in columns if c not in (key, label, "event_timestamp")]
    replay = {
        "rate": rate,
        "duration_s": duration_s,
        "data_path": data,
        "id_column": key,
        "fields": fields,
    }
    return {"endpoint": endpoint, "replay": {**replay, "label": label if label in columns else None}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="a canary experiment's experiment.json (UC2 step 02 starts this)")
    which.add_argument("--data", metavar="FILE.parquet", help="replay these customers at --endpoint")
    parser.add_argument("--endpoint", help="the :predict URL (with --data)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--label", default="churn", help="the file's label column, recorded, not sent")
    parser.add_argument("--id-column", default="", help="the customers' id column (default: the first one)")
    args = parser.parse_args(argv)
    if args.data and not args.endpoint:
        parser.error("--data needs --endpoint, the model server's :predict URL")
    path = Path(args.experiment or args.data)
    try:
        experiment = json.loads(path.read_text()) if args.experiment else plain(**_plain_args(args))
    except (OSError, ValueError) as exc:  # a file that is not there, not Parquet, or without the id column
        parser.error(str(exc))
    load = Load(experiment, path.parent)
    signal.signal(signal.SIGTERM, lambda *_: load.stop.set())  # step 03 ends it: flush, then exit
    before = len(read_responses(path.parent))  # the file is appended to: an earlier replay's answers stay
    code = load.run()
    if args.data:  # a user's replay: what the server answered, in one line
        answers = read_responses(path.parent)[before:]
        by_status = {
            str(s): sum(a["status"] == s for a in answers) for s in sorted({a["status"] for a in answers})
        }
        versions = sorted({str(a["version"]) for a in answers if a["version"]})
        print(
            json.dumps(
                {"sent": len(answers), "status": by_status, "versions": versions, "responses": str(load.out)}
            )
        )
    return code


def _plain_args(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "data": args.data,
        "endpoint": args.endpoint,
        "rate": args.rate,
        "duration_s": args.duration,
        "label": args.label,
        "id_column": args.id_column,
    }


if __name__ == "__main__":
    raise SystemExit(main())
