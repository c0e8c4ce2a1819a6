import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.serving import local_server
from common.workspace import Workspace
from tests.conftest import Impostor


def test_a_recorded_pid_that_is_not_our_server_is_ignored(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    record = {"pid": os.getpid(), "version": "1", "port": 1, "host": "127.0.0.1", "spec": {}}
    (ws.dir("serving") / "server.json").write_text(json.dumps(record))  # alive, but it is pytest
    assert local_server.state(ws) is None
    assert local_server.stop(ws) is None  # and nothing is signalled
    assert not (tmp_path / "serving" / "server.json").exists()


def test_no_record_means_no_server(tmp_path: Path) -> None:
    assert local_server.state(Workspace(tmp_path)) is None


def _sleeper(
    *args: str, module: str = local_server.SERVER_MODULE, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A process whose command line looks like our server's, with these arguments. Returned once it runs:
    the kernel shows a new program's command line only a moment after the exec that Popen waits for."""
    code = "import time; print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "-m", module, *args], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.communicate()  # reaps it and closes its pipe


def test_a_server_of_another_workspace_is_not_ours(tmp_path: Path) -> None:
    ws, other = Workspace(tmp_path / "ws"), Workspace(tmp_path / "other")
    theirs = _sleeper("--spec", str(other.dir("serving") / "spec-v1.json"))
    ours = _sleeper("--spec", str(ws.dir("serving") / "spec-v1.json"))
    try:
        for proc, expected in ((theirs, None), (ours, ours.pid)):
            record = {"pid": proc.pid, "version": "1", "port": 1, "host": "127.0.0.1", "spec": {}}
            (ws.dir("serving") / "server.json").write_text(json.dumps(record))
            found = local_server.state(ws)
            assert (found and found["pid"]) == expected
    finally:
        for proc in (theirs, ours):
            _end(proc)


def test_a_server_started_before_the_move_is_still_ours_to_replace(tmp_path: Path) -> None:
    """The old server module named its spec in the environment: that workspace's record still stops it."""
    ws, other = Workspace(tmp_path / "ws"), Workspace(tmp_path / "other")
    procs = {
        folder: _sleeper(
            "--http_port",
            "1",
            module=local_server.LEGACY_MODULE,
            env={**os.environ, "MLOPS_SERVING_SPEC": str(folder.dir("serving") / "spec-v1.json")},
        )
        for folder in (ws, other)
    }
    try:
        for folder, expected in ((other, None), (ws, procs[ws].pid)):
            record = {"pid": procs[folder].pid, "version": "1", "port": 1, "host": "127.0.0.1", "spec": {}}
            (ws.dir("serving") / "server.json").write_text(json.dumps(record))
            found = local_server.state(ws)
            assert (found and found["pid"]) == expected
    finally:
        for proc in procs.values():
            _end(proc)


def test_a_listening_port_names_its_holder() -> None:
    """The plain listener a stale server or another program would be: its pid and command are named."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen()
        holder = local_server.port_holder("127.0.0.1", port)
        assert holder is not None and holder.pid == os.getpid() and holder.command == _own_command()
        wildcard = local_server.port_holder("0.0.0.0", port)  # every interface includes the loopback one
        assert wildcard is not None and wildcard.pid == os.getpid()
    assert local_server.port_holder("127.0.0.1", port) is None


def test_a_host_that_is_not_an_address_of_this_machine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"serving.host: 203.0.113.7 is not an address of this machine"):
        local_server.port_holder("203.0.113.7", 8085)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]")],
)
def test_clients_reach_a_wildcard_server_on_the_loopback(host: str, expected: str) -> None:
    assert local_server.url_host(host) == expected


def test_readiness_counts_only_the_answer_of_the_process_just_started(impostor: Impostor) -> None:
    """Another server on the port says ready: that is never taken for the new one's answer."""
    spec = {"host": "127.0.0.1", "port": impostor.port, "model_name": "churn-predictor", "version": "2"}
    proc = _sleeper()
    try:
        impostor.answer.update(pid=1, version="2")
        with pytest.raises(local_server.ServerNotReadyError) as err:
            local_server.wait_ready(spec, proc, timeout_s=1.0)
        assert (
            f"version 2 did not become ready: the model server (pid {proc.pid}) not ready within 1.0s"
            in str(err.value)
        )
        assert f"port {impostor.port} answers from another server (pid 1, version 2)" in str(err.value)
        impostor.answer.update(pid=proc.pid, version="1")  # the right process, the wrong version
        with pytest.raises(local_server.ServerNotReadyError):
            local_server.wait_ready(spec, proc, timeout_s=0.6)
        impostor.answer.update(version="2")
        local_server.wait_ready(spec, proc, timeout_s=5)
        assert local_server.answers_as(spec, proc.pid) and not local_server.answers_as(spec, 1)
    finally:
        _end(proc)


def test_a_server_that_exits_is_reported_with_its_exit_code(impostor: Impostor) -> None:
    spec = {"host": "127.0.0.1", "port": impostor.port, "model_name": "churn-predictor", "version": "2"}
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(local_server.ServerNotReadyError, match=rf"\(pid {proc.pid}\) exited with 3"):
        local_server.wait_ready(spec, proc, timeout_s=5)


def _own_command() -> str:
    """This process's command line as /proc has it (pytest's, or a pytest-xdist worker's)."""
    return Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()
