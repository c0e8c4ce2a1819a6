"""The replayed load of a canary experiment, as Iter8's load task sent it: customers of the newest validated data,
each with its id and every field, sent to the model server at a rate for a duration. It runs as a process of its
own (started by UC2 step 02, stopped by step 03, or at the end of its duration) and records every answer (id,
version, probability, the customer's label, status, latency) in responses.jsonl beside the experiment: the model
objectives that need labels read it.

    python -m common.experiment.replay --experiment EXPERIMENT.json

It also replays customers at a server, as a user sends traffic: a Parquet file (--data), or the configured
warehouse table's rows exactly as the warehouse returns them (--table); the answers go to
<workspace>/replay/responses.jsonl. Every column is sent, the label and the time too: the server takes a row as the
table holds it. It prints the count per status and the first distinct error bodies, and exits 1 when more than
--max-error-rate of the answers are not 200:

    python -m common.experiment.replay --data var/drifted.parquet --endpoint URL --rate 200 --duration 10
    python -m common.experiment.replay --config my.yaml --table --endpoint URL --duration 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import http.client
import itertools
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from common.redact import redact

if TYPE_CHECKING:
    import pandas as pd

    from common.settings import Settings
    from common.workspace import Workspace

log = logging.getLogger("common.experiment.replay")  # not __name__: run with -m, that is __main__
RESPONSES_FILE = "responses.jsonl"
FLUSH_S = 0.5  # how often answers reach the file
SHOWN_ERRORS = 5  # distinct error bodies a user's replay prints
ERROR_CHARS = 300


def customers(path: str, id_column: str, fields: list[str], label: str | None, seed: int = 7) -> list[dict]:
    """Every customer of the data as a request instance (missing values as null), shuffled, with its label."""
    import pandas as pd

    wanted = [id_column, *fields, *([label] if label and label not in fields else [])]
    return instances(pd.read_parquet(path, columns=wanted), id_column, fields, label, seed)


def experiment_customers(replay: dict[str, Any]) -> list[dict]:
    """A canary experiment's customers: those of its fair comparison set (neither version trained on them; the
    quality objective counts only them), or every customer when none is left (the objective then says so)."""
    from common.experiment.fair import read_exclusion

    rows = customers(replay["data_path"], replay["id_column"], replay["fields"], replay.get("label"))
    excluded = read_exclusion(replay.get("excluded"))
    fair = [r for r in rows if r["instance"][replay["id_column"]] not in excluded]
    return fair or rows


def instances(
    frame: pd.DataFrame, id_column: str, fields: list[str], label: str | None, seed: int
) -> list[dict]:
    """The rows of `frame` as request instances in JSON's types, shuffled, each with its label."""
    rows = []
    for record in frame.sample(frac=1.0, random_state=seed).to_dict("records"):
        instance = {k: _plain(v) for k, v in record.items()}
        rows.append(
            {"instance": {k: instance[k] for k in [id_column, *fields]}, "label": instance.get(label)}
        )
    return rows


def _plain(value: Any) -> Any:
    """A value as JSON carries it: missing as null, NUMERIC as a number, a time as ISO text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if not hasattr(value, "isoformat") else value.isoformat()


class Load:
    """`threads` senders keep one connection each and send request i at start + i / rate."""

    def __init__(self, experiment: dict[str, Any], folder: Path, rows: list[dict] | None = None) -> None:
        replay = experiment["replay"]
        self.url = urlsplit(experiment["endpoint"])
        self.rate, self.duration = float(replay["rate"]), float(replay["duration_s"])
        self.rows = rows if rows is not None else experiment_customers(replay)
        if not self.rows:
            raise ValueError("no customers to replay: the data is empty")
        self.threads = int(replay.get("threads", 8))
        self.out = folder / RESPONSES_FILE
        self.stop = threading.Event()
        self.next = itertools.count()
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.start = 0.0
        self.on_answers: Callable[[int], None] = lambda n: None  # a user's replay shows progress

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
        proba, error = None, None
        if status == 200:
            proba = json.loads(answer)["predictions"][0]["churn_probability"]
        else:  # what the server said, for the summary: a person needs the reason, not only the count
            said = answer.decode(errors="replace")[:ERROR_CHARS] or "no answer (connection refused or reset)"
            error = redact(said)  # a server may echo what it was sent
        key = next(iter(row["instance"]))
        line = {
            "id": row["instance"][key],
            "version": version,
            "status": status,
            "p": proba,
            "label": row["label"],
            **({"error": error} if error is not None else {}),
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
                    self.on_answers(len(lines))
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
    """The experiment a replay of a customers file at an endpoint is: the id column (default: the first) and
    every other column as a field, the label and the time included (the server accepts a row as the table has
    it; the label is recorded beside the answer)."""
    import pyarrow.parquet as pq

    columns = pq.read_schema(data).names
    key = id_column or columns[0]
    if key not in columns:
        raise ValueError(f"{data} has no column {key!r} (--id-column); it has {', '.join(columns)}")
    fields = [c for c in columns if c != key]
    replay = {
        "rate": rate,
        "duration_s": duration_s,
        "data_path": data,
        "id_column": key,
        "fields": fields,
    }
    return {"endpoint": endpoint, "replay": {**replay, "label": label if label in columns else None}}


def main(argv: list[str] | None = None) -> int:
    from common.cli import base_parser, execute

    parser = base_parser(__doc__ or "replay")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="a canary experiment's experiment.json (UC2 step 02 starts this)")
    which.add_argument("--data", metavar="FILE.parquet", help="replay these customers at --endpoint")
    which.add_argument(
        "--table",
        action="store_true",
        help="replay the configured warehouse table's rows, as it returns them",
    )
    parser.add_argument("--endpoint", help="the :predict URL (with --data or --table)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument(
        "--label", help="the label column, recorded beside each answer (default: dataset.target)"
    )
    parser.add_argument("--id-column", help="the customers' id column (default: dataset.id_column)")
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=0.0,
        help="exit 1 when more than this share of answers are not 200 (default 0: any error fails)",
    )
    args = parser.parse_args(argv)
    if args.experiment:  # UC2's load: everything it needs is in the experiment file
        path = Path(args.experiment)
        return _run(Load(json.loads(path.read_text()), path.parent))
    if not args.endpoint:
        parser.error(
            f"--{'data' if args.data else 'table'} needs --endpoint, the model server's :predict URL"
        )
    if args.data and not Path(args.data).is_file():
        parser.error(f"--data {args.data}: no such file")
    return execute("replay", None, args, lambda cfg, ws: _users_replay(args, cfg, ws))


def _run(load: Load) -> int:
    signal.signal(signal.SIGTERM, lambda *_: load.stop.set())  # step 03 ends it: flush, then exit
    return load.run()


def _users_replay(args: argparse.Namespace, cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """A user's replay of a file or of the table; what the server answered, in one summary."""
    from common.errors import ConfigError
    from common.progress import progress

    ds = cfg.dataset
    label, key = args.label or ds.target, args.id_column or ds.id_column
    if args.table:
        frame = warehouse_rows(cfg, ws, math.ceil(args.rate * args.duration))
        experiment = {"endpoint": args.endpoint, "replay": {"rate": args.rate, "duration_s": args.duration}}
        fields = [c for c in frame.columns if c != key]
        rows = instances(frame, key, fields, label, 7)
    else:
        try:
            experiment = plain(args.data, args.endpoint, args.rate, args.duration, label, key)
        except (OSError, ValueError) as exc:  # not Parquet, or without the id column
            raise ConfigError(str(exc)) from None
        rows = None
    folder = ws.dir("replay")  # the workspace's, never beside the input (which may be in a DVC work tree)
    try:
        load = Load(experiment, folder, rows)
    except ValueError as exc:  # nothing to send
        raise ConfigError(f"{args.data or cfg.dataset.table}: {exc}") from None
    before = len(read_responses(folder))  # the file is appended to: an earlier replay's answers stay
    with progress("replay", math.ceil(args.rate * args.duration), "requests") as shown:
        load.on_answers = shown.update
        _run(load)
    told = tell(read_responses(folder)[before:], load.out, args.max_error_rate)
    if told["exit_code"]:
        log.error(
            "replay failed: %s of %s answers were not 200 (--max-error-rate %g): %s",
            told["answers"],
            told["sent"],
            args.max_error_rate,
            "; ".join(told["errors"]),
        )
    return told


def warehouse_rows(cfg: Settings, ws: Workspace, limit: int) -> pd.DataFrame:
    """The configured table's columns, its first `limit` rows by id (as many as a replay sends), as the
    warehouse returns them: no parsing, no casts."""
    import pandas as pd

    from common.data.schema import extract_query
    from common.data.warehouse import make_engine, reaching, warehouse_url

    url = warehouse_url(cfg.warehouse, ws)
    engine = make_engine(url, cfg.warehouse.connect_timeout_s)
    try:
        with reaching(url), engine.connect() as conn:
            return pd.read_sql(extract_query(cfg.dataset).limit(limit), conn, coerce_float=False)
    finally:
        engine.dispose()


def tell(answers: list[dict[str, Any]], out: Path, max_error_rate: float) -> dict[str, Any]:
    """The count per status, the versions that answered and the first distinct error bodies; a failed
    replay (more errors than max_error_rate) exits 1."""
    by_status = {
        str(s): sum(a["status"] == s for a in answers) for s in sorted({a["status"] for a in answers})
    }
    errors = list(dict.fromkeys(a.get("error") or "" for a in answers if a["status"] != 200))[:SHOWN_ERRORS]
    failed = sum(a["status"] != 200 for a in answers)
    rate = failed / len(answers) if answers else 1.0  # nothing answered is no success
    code = 1 if rate > max_error_rate else 0
    return {
        "step": "replay",
        "status": "failed" if code else "ok",
        "exit_code": code,
        "sent": len(answers),
        "answers": by_status,
        "error_rate": round(rate, 4),
        "max_error_rate": max_error_rate,
        "errors": errors,
        "versions": sorted({str(a["version"]) for a in answers if a["version"]}),
        "responses": str(out),
    }


if __name__ == "__main__":
    raise SystemExit(main())
