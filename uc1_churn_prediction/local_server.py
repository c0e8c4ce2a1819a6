"""The local model server process: start it detached with a spec file, wait for readiness, stop it. Its pid,
version and port live in <workspace>/serving/server.json, its log in server.log."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
SERVER_MODULE = "uc1_churn_prediction.serving_server"


def state(ws: Workspace) -> dict[str, Any] | None:
    """The running server's record, or None when there is none or its process is gone."""
    path = ws.dir("serving") / "server.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return record if _alive(record["pid"]) and _is_server(record["pid"]) else None


def start(ws: Workspace, spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start `python -m uc1_churn_prediction.serving_server` detached, so it outlives this step."""
    folder = ws.dir("serving")
    spec_file = folder / f"spec-v{spec['version']}.json"
    write_text(spec_file, json.dumps(spec, indent=2))
    with (folder / "server.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--http_port", str(spec["port"])],
            env={**os.environ, "MLOPS_SERVING_SPEC": str(spec_file)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    log.info(
        "started the model server (pid %d) for version %s on port %s", proc.pid, spec["version"], spec["port"]
    )
    return proc


def record(ws: Workspace, proc: subprocess.Popen[bytes], spec: dict[str, Any]) -> None:
    write_text(
        ws.dir("serving") / "server.json",
        json.dumps(
            {
                "pid": proc.pid,
                "version": spec["version"],
                "port": spec["port"],
                "host": spec["host"],
                "spec": spec,
                "log": str(ws.dir("serving") / "server.log"),
            },
            indent=2,
        ),
    )


def wait_ready(host: str, port: int, proc: subprocess.Popen[bytes] | None, timeout_s: float) -> bool:
    """Poll /v2/health/ready until it answers 200, the process dies, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if ready(host, port):
            return True
        time.sleep(0.25)
    return False


def ready(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/v2/health/ready", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(ws: Workspace, timeout_s: float = 20) -> dict[str, Any] | None:
    """Stop the recorded server (TERM, then KILL) and forget it; returns what was stopped."""
    current = state(ws)
    if current is not None:
        kill(current["pid"], timeout_s)
        log.info("stopped the model server (pid %d, version %s)", current["pid"], current["version"])
    (ws.dir("serving") / "server.json").unlink(missing_ok=True)
    return current


def kill(pid: int, timeout_s: float = 20) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child


def _is_server(pid: int) -> bool:
    """After a reboot the recorded pid may belong to another program: never signal that one."""
    try:
        return SERVER_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(FileNotFoundError):  # a zombie has exited
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    return True
