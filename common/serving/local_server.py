"""The local model server process: start it detached with a spec file, wait until it answers as itself, switch
what it serves without a gap (common.serving.switch), stop it. Its pid, version and port live in
<workspace>/serving/server.json, its log in server.log. A server of this workspace whose record was lost (a kill
between its start and the record) is found by its command line and adopted."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import intent
from common.errors import ConfigError, MlopsError
from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
SERVER_MODULE = "common.serving.server"
SWITCH_PATH = "/mlops/switch"  # the server's control route (common.serving.switch)
TOKEN_FILE = "control.token"  # its bearer token, in the serving folder
LEGACY_MODULE = "uc1_churn_prediction.serving_server"  # before the shared-library move
# Importing Feast points these at a temporary folder that Feast deletes when the importing process exits. A
# detached server that inherited them would keep its metrics in a folder deleted under it, and crash.
INHERITED_ONLY = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR", "prometheus_multiproc_dir")


class ServerNotReadyError(MlopsError):
    """The server just started did not answer as itself in time."""


class PortInUseError(MlopsError):
    """Another process listens on the serving port."""


class VersionLoadError(MlopsError):
    """A version the running server was asked to switch to did not load; it never took traffic."""

    def __init__(self, message: str, version: str) -> None:
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class Holder:
    pid: int | None  # None: the system did not say
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.pid else self.command


def state(ws: Workspace) -> dict[str, Any] | None:
    """The running server's record, or None when there is none or its process is gone. A server of this
    workspace that answers as itself but lost its record is adopted (its record written again)."""
    path = ws.dir("serving") / "server.json"
    try:
        found = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # none, or a record a killed run tore
        found = None
    if found is not None and alive(found["pid"]) and _is_server(found["pid"], ws):
        return found
    return adopt(ws)


def adopt(ws: Workspace) -> dict[str, Any] | None:
    """A running server of this workspace without a record: found by its command line (the server module on a
    spec file of this workspace), and ours only when it answers on its spec's port as that process."""
    for pid, spec_file in _ours(ws):
        with contextlib.suppress(OSError, ValueError, KeyError):
            spec = json.loads(Path(spec_file).read_text())
            seen = about(spec)
            if not (seen and seen.get("pid") == pid):
                continue
            now = seen.get("spec_file") or spec_file  # what it serves now, after any switch
            if Path(now).parent == Path(spec_file).parent:
                spec = json.loads(Path(now).read_text())
            record(ws, pid, spec)
            log.warning(
                "adopted the model server (pid %d, version %s) that had lost its record",
                pid,
                seen.get("version"),
            )
            return json.loads((ws.dir("serving") / "server.json").read_text())
    return None


def _ours(ws: Workspace) -> list[tuple[int, str]]:
    """(pid, spec file) of every server process of this workspace, from the system's process table."""
    import psutil

    folder = str(ws.dir("serving")) + os.sep
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info.get("cmdline") or []
        if SERVER_MODULE in argv and "--spec" in argv[:-1]:
            spec_file = argv[argv.index("--spec") + 1]
            if spec_file.startswith(folder) and proc.info["pid"] != os.getpid():
                found.append((proc.info["pid"], spec_file))
    return found


def url_host(host: str) -> str:
    """The address a client on this machine uses for a server listening on `host`."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"[{host}]" if ":" in host else host


def port_holder(host: str, port: int) -> Holder | None:
    """None when a server could listen on host:port now; else who listens there, as far as the system says."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"serving.host: {host} is not an address of this machine") from None
            if exc.errno != errno.EADDRINUSE:
                raise
            return _listener(port)
    return None


def _listener(port: int) -> Holder:
    import psutil

    try:
        conns = psutil.net_connections("inet")
    except psutil.AccessDenied:
        conns = []
    pids = sorted(
        {c.pid for c in conns if c.pid and c.laddr and c.laddr.port == port and c.status == "LISTEN"}
    )
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            return Holder(pid, " ".join(psutil.Process(pid).cmdline())[:200])
    return Holder(None, "a process this user may not inspect")


def check_port(spec: dict[str, Any], current: dict[str, Any] | None) -> None:
    """Refuse to start beside another listener: its answers would pass for ours. Our own server, about to be
    replaced, may hold the port."""
    holder = port_holder(spec["host"], spec["port"])
    if holder is None or (current is not None and holder.pid == current["pid"]):
        return
    raise PortInUseError(
        f"port {spec['port']} on {spec['host']} is in use by {holder}: stop it, or set serving.port to a free "
        "port; nothing was started"
    )


def write_spec(ws: Workspace, spec: dict[str, Any]) -> Path:
    """The spec file the server process reads."""
    canary = f"+v{spec['canary']['version_spec']['version']}" if spec.get("canary") else ""
    spec_file = ws.dir("serving") / f"spec-v{spec['version']}{canary}.json"
    write_text(spec_file, json.dumps(spec, indent=2))
    return spec_file


def command(spec_file: Path, spec: dict[str, Any]) -> list[str]:
    """The server's command line."""
    return [sys.executable, "-m", SERVER_MODULE, "--spec", str(spec_file), "--http_port", str(spec["port"])]


def control_token(ws: Workspace) -> str:
    """The bearer token of the server's switch route: made once per workspace, readable by its user only."""
    path = ws.dir("serving") / TOKEN_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def start(ws: Workspace, spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start `python -m common.serving.server` detached, so it outlives this step, with an environment that
    nothing deletes under it."""
    folder = ws.dir("serving")
    control_token(ws)  # the server reads it as it starts
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_ONLY}
    cmd = command(write_spec(ws, spec), spec)
    with (folder / "server.log").open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    log.info(
        "started the model server (pid %d) for version %s on %s:%s",
        proc.pid,
        spec["version"],
        spec["host"],
        spec["port"],
    )
    return proc


def record(ws: Workspace, pid: int, spec: dict[str, Any]) -> None:
    write_text(
        ws.dir("serving") / "server.json",
        json.dumps(
            {
                "pid": pid,
                "version": spec["version"],
                "port": spec["port"],
                "host": spec["host"],
                "spec": spec,
                "log": str(ws.dir("serving") / "server.log"),
            },
            indent=2,
        ),
    )


def replace(ws: Workspace, spec: dict[str, Any], timeout_s: float) -> int:
    """Serve `spec` in place of what is served now, and return the serving pid. A running server of ours
    switches in place, without a gap (the new model loads beside the old one; one that fails to load never takes
    traffic: VersionLoadError, the old one answers on). Only a spec the process is bound to (another host, port
    or model name), or no server, needs a start; a server that does not become ready is killed and the previous
    one started again, and the error says both."""
    current = state(ws)
    if current is not None and switch(ws, current, spec, timeout_s):
        record(ws, current["pid"], spec)
        return current["pid"]
    return _restart(ws, current, spec, timeout_s)


def switch(ws: Workspace, current: dict[str, Any], spec: dict[str, Any], timeout_s: float) -> bool:
    """Ask the running server to switch to `spec`: True when it did, False when it cannot in place (a bound
    setting changes, or a server from before switches); VersionLoadError when the version failed to load."""
    spec_file = write_spec(ws, spec)
    url = f"http://{url_host(current['host'])}:{current['port']}{SWITCH_PATH}"
    body = json.dumps({"spec": str(spec_file)}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {control_token(ws)}"}
    request = urllib.request.Request(url, body, headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            resp.read()
    except urllib.error.HTTPError as err:
        said = _said(err)
        if err.code == 500 and said["version"]:
            raise VersionLoadError(
                f"{said['error']}; it never took traffic: version {current['version']} answers on "
                f"(see {ws.dir('serving') / 'server.log'})",
                str(said["version"]),
            ) from None
        log.warning(
            "the model server cannot switch in place (%s %s): it is restarted", err.code, said["error"]
        )
        return False
    except (urllib.error.URLError, OSError) as exc:
        log.warning("the model server did not answer the switch (%s): it is restarted", exc)
        return False
    log.info(
        "the model server (pid %d) switched to version %s, no connection refused",
        current["pid"],
        spec["version"],
    )
    return True


def _said(err: urllib.error.HTTPError) -> dict[str, Any]:
    """The server's error answer: {"error": text, "version": the version that failed to load, if that}."""
    with contextlib.suppress(ValueError, OSError, TypeError, AttributeError):
        said = json.loads(err.read())
        return {"error": str(said.get("error") or said.get("detail") or said), "version": said.get("version")}
    return {"error": str(err.reason), "version": None}


def _restart(ws: Workspace, current: dict[str, Any] | None, spec: dict[str, Any], timeout_s: float) -> int:
    """A new server for `spec`. On another address the new one starts first and the old one stops only once it
    answers; on the same address the old one must stop first."""
    moved = current is not None and (current["host"], current["port"]) != (spec["host"], spec["port"])
    previous = None if moved else stop(ws)
    proc = start(ws, spec)
    try:
        wait_ready(spec, proc, timeout_s)
    except ServerNotReadyError as exc:
        kill(proc.pid)
        restored = (
            f"version {current['version']} serves on"
            if moved and current
            else _restore(ws, previous, timeout_s)
        )
        raise MlopsError(f"{exc} (log {ws.dir('serving') / 'server.log'}); {restored}") from None
    intent.boundary("local_server.started")  # a kill here leaves a server without a record: state() adopts it
    if moved and current is not None:
        kill(current["pid"])
    record(ws, proc.pid, spec)
    return proc.pid


def _restore(ws: Workspace, previous: dict[str, Any] | None, timeout_s: float) -> str:
    """Serve the previous spec again after a failed start."""
    if previous is None:
        return "nothing was served before, so nothing is served now"
    proc = start(ws, previous["spec"])
    try:
        wait_ready(previous["spec"], proc, timeout_s)
    except ServerNotReadyError as exc:
        kill(proc.pid)
        return f"version {previous['version']} could not be restarted either: {exc}"
    record(ws, proc.pid, previous["spec"])
    return f"version {previous['version']} serves again"


def about(spec: dict[str, Any], timeout_s: float = 2) -> dict[str, Any] | None:
    """What the server on the spec's port says it is (its metadata: pid, version, ready), or None."""
    url = f"http://{url_host(spec['host'])}:{spec['port']}/v1/models/{spec['model_name']}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def answers_as(spec: dict[str, Any], pid: int) -> bool:
    """The server on the spec's port is process `pid`, ready, serving the spec's version."""
    return _is(about(spec), pid, spec["version"])


def wait_ready(spec: dict[str, Any], proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait until the process just started answers as itself. An answer from any other process never counts."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, Any] | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        seen = about(spec)
        if _is(seen, proc.pid, spec["version"]):
            return
        time.sleep(0.25)
    why = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready within {timeout_s}s"
    if seen and seen.get("pid") != proc.pid:
        other = f"pid {seen.get('pid')}, version {seen.get('version')}"
        why += f"; port {spec['port']} answers from another server ({other})"
    raise ServerNotReadyError(
        f"version {spec['version']} did not become ready: the model server (pid {proc.pid}) {why}"
    )


def _is(seen: dict[str, Any] | None, pid: int, version: str) -> bool:
    return bool(seen and seen.get("pid") == pid and seen.get("version") == version and seen.get("ready"))


def stop(ws: Workspace, timeout_s: float = 20) -> dict[str, Any] | None:
    """Stop the recorded (or adopted) server (TERM, then KILL), and any other server process of this workspace,
    and forget it; returns what was stopped."""
    current = state(ws)
    if current is not None:
        kill(current["pid"], timeout_s)
        log.info("stopped the model server (pid %d, version %s)", current["pid"], current["version"])
    for pid, _ in _ours(ws):  # one a kill left behind that does not answer: ours all the same
        kill(pid, timeout_s)
        log.warning("stopped a model server of this workspace that had no record (pid %d)", pid)
    (ws.dir("serving") / "server.json").unlink(missing_ok=True)
    return current


def kill(pid: int, timeout_s: float = 20) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child


def _is_server(pid: int, ws: Workspace) -> bool:
    """After a reboot the recorded pid may belong to another program, or to another workspace's server:
    never signal those. Ours runs the server module on a spec file of this workspace."""
    folder = str(ws.dir("serving")) + os.sep
    argv = _proc_strings(pid, "cmdline")
    if SERVER_MODULE in argv:
        return any(a.startswith(folder) for a in argv)
    # a server started before the shared-library move named its spec in its environment: still ours to replace
    spec = next((e for e in _proc_strings(pid, "environ") if e.startswith("MLOPS_SERVING_SPEC=")), "")
    return LEGACY_MODULE in argv and spec.removeprefix("MLOPS_SERVING_SPEC=").startswith(folder)


def runs(pid: int, *parts: str) -> bool:
    """Whether process `pid` is alive and its command line holds every one of `parts` (checked before any
    signal: a recorded pid may belong to another program after a reboot)."""
    argv = _proc_strings(pid, "cmdline")
    return alive(pid) and all(p in argv for p in parts)


def _proc_strings(pid: int, name: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    """The process runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(FileNotFoundError):  # a zombie has exited
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    return True
