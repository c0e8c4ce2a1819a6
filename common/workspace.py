"""The workspace (default var/): every file a pipeline writes, atomic writes, recorded step results."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import MissingInputError
from common.step import StepResult

REPO_ROOT = Path(__file__).resolve().parent.parent


class Workspace:
    """Paths under one root and the state file that lets a step run alone find its inputs."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        self.root = root if root.is_absolute() else REPO_ROOT / root

    def dir(self, *parts: str) -> Path:
        """A folder under the workspace, created on first use."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        """A temporary file under <workspace>/tmp, deleted when the block ends, whatever happens."""
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.dir("tmp"))
        os.close(fd)
        try:
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    @property
    def state_file(self) -> Path:
        return self.dir("state") / "steps.json"

    def record(self, result: StepResult) -> None:
        """Store a step's result; the read-modify-write is serialised across processes."""
        with open(self.dir("state") / ".steps.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            from common.redact import redact

            state = self._read_state()
            state[result.step] = json.loads(
                redact(json.dumps(result.to_dict(), default=str))
            )  # no secret kept
            write_text(self.state_file, json.dumps(state, indent=2, sort_keys=True, default=str))

    def result(self, step: str) -> StepResult | None:
        data = self._read_state().get(step)
        return StepResult.from_dict(data) if data else None

    def require(self, step: str, hint: str) -> StepResult:
        """The recorded result of `step`, or an error telling the user what to run first."""
        found = self.result(step)
        if found is None:
            raise MissingInputError(f"no recorded result of step {step} in {self.root}: {hint}")
        return found

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it to `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # hidden, and with the real suffix last: some writers (KFP, pandas) go by the extension
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp made it 0600: a file as open() would make it
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


@functools.cache
def _umask() -> int:
    """The process's umask, read without changing it (Linux says it in /proc); else set and restored once."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(dest: str | Path, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | Path, text: str) -> None:
    write_bytes(dest, text.encode())


def file_path(uri: str) -> Path:
    """The path of a file:// URI, decoded (a space is %20 in it)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    return Path(url2pathname(urlsplit(uri).path))
