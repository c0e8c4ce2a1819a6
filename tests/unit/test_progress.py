"""Progress of long work: under cron (not a TTY) a log line at most once per interval and a last line saying
done; on a terminal (a pseudo-terminal here) a tqdm bar and no such lines."""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import re
import select
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.progress import line, progress, track


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "common.progress" and r.levelno >= level]


def test_without_a_terminal_one_line_per_interval_at_most_and_the_last_says_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="common.progress")
    clock = Clock()
    with progress("batch scoring", 36_000, "rows", every_s=10, stream=io.StringIO(), clock=clock) as shown:
        assert shown.bar is None
        for _ in range(36):
            clock.now += 1
            shown.update(1000)
    said = _messages(caplog)
    assert said[0] == "batch scoring: 10,000 of 36,000 rows (28 %), 10 s"
    elapsed = [int(m) for m in re.findall(r", (\d+) s$", "\n".join(said[:-1]), re.M)]
    assert elapsed == [10, 20, 30]  # 36 updates, one line per 10 s
    assert all(b - a >= 10 for a, b in itertools.pairwise(elapsed))
    assert said[-1] == "batch scoring: done, 36,000 rows in 36 s"


def test_quick_work_logs_nothing_at_info_and_failed_work_never_says_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="common.progress")
    clock = Clock()
    with progress("replay", 10, "requests", every_s=10, stream=io.StringIO(), clock=clock) as shown:
        clock.now += 2
        shown.update(10)
    assert _messages(caplog) == []  # under cron a 2 s job adds no line
    assert _messages(caplog, logging.DEBUG) == ["replay: done, 10 requests in 2 s"]
    caplog.clear()
    failing = progress("replay", 10, "requests", every_s=1, stream=io.StringIO(), clock=clock)
    with pytest.raises(OSError, match="disk full"), failing as shown:
        clock.now += 30
        shown.update(3)
        raise OSError("disk full")
    assert not any("done" in m for m in _messages(caplog, logging.DEBUG))


def test_a_line_without_a_total_counts_only() -> None:
    assert line("inference log scan", 1234, None, "files", 7.4) == "inference log scan: 1,234 files, 7 s"


def test_track_counts_each_item_by_its_size_once_the_caller_is_done_with_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="common.progress")
    chunks = [[1, 2, 3], [4, 5], [6]]
    assert list(track(iter(chunks), "scoring", 6, "rows", size=len)) == chunks
    assert _messages(caplog, logging.DEBUG)[-1].startswith("scoring: done, 6 rows in ")
    caplog.clear()
    assert list(track(range(4), "bootstrap", unit="rounds")) == [0, 1, 2, 3]  # a sized iterable: its length
    assert _messages(caplog, logging.DEBUG)[-1].startswith("bootstrap: done, 4 rounds in ")


def test_on_a_terminal_a_bar_is_drawn_and_no_progress_lines_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="common.progress")
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty:
        clock = Clock()
        with progress("batch scoring", 5, "rows", every_s=1, stream=tty, clock=clock) as shown:
            assert shown.bar is not None
            for _ in range(5):
                clock.now += 5  # five intervals: without a terminal, five lines
                shown.update(1)
        tty.flush()
        drawn = _read_all(leader)
    os.close(leader)
    assert "batch scoring:   0%|" in drawn and "/5.00 [" in drawn  # tqdm's bar, of 5 rows
    assert _messages(caplog) == ["batch scoring: done, 5 rows in 25 s"]


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def test_training_counts_each_kfp_task_as_it_ends_and_knows_how_many_there_are() -> None:
    from kfp.local import subprocess_task_handler as handler

    from common.config import load_config
    from common.model.kfp_pipeline import build_pipeline
    from common.model.local_runner import _tasks, task_count

    cfg = load_config(environ={})
    assert task_count(build_pipeline(cfg)) == 2 + 2 * len(cfg.training.candidates) + 1  # + gate
    original, done = handler.run_local_subprocess, []
    with _tasks(None, done.append):  # the subprocess runner: kfp.local's own call, counted
        failed = [sys.executable, "-c", "raise SystemExit(3)"]
        assert handler.run_local_subprocess(full_command=failed) == 3
    assert done == [1] and handler.run_local_subprocess is original


class _Model(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"predictions": [{"churn_probability": 0.5}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-model-version", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_replay_counts_every_answer_it_writes(tmp_path: Path) -> None:
    from common.experiment.replay import Load, read_responses

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/models/m:predict"
        experiment = {"endpoint": endpoint, "replay": {"rate": 40, "duration_s": 0.5, "threads": 2}}
        load = Load(experiment, tmp_path, [{"instance": {"id": i}, "label": 0} for i in range(5)])
        counted: list[int] = []
        load.on_answers = counted.append
        load.run()
    finally:
        server.shutdown()
    assert sum(counted) == len(read_responses(tmp_path)) == 20  # 40 a second for half a second
