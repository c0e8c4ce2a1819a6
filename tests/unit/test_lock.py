import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.errors import EXIT_LOCKED, LockHeldError
from common.lock import run_lock

HOLD = """
import sys, time
from pathlib import Path
from common.lock import run_lock
with run_lock(Path(sys.argv[1]), "uc1"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_holder_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with run_lock(tmp_path, "uc1"):
        start = time.monotonic()
        with pytest.raises(LockHeldError) as err, run_lock(tmp_path, "uc1"):
            pass
        assert time.monotonic() - start < 1
    assert err.value.exit_code == EXIT_LOCKED
    assert f"pid {os.getpid()}" in str(err.value) and "uc1" in str(err.value)
    with run_lock(tmp_path, "uc1"):  # released after the block
        pass


def test_locks_are_per_name(tmp_path: Path) -> None:
    with run_lock(tmp_path, "uc1"), run_lock(tmp_path, "run_all"):
        pass


def test_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}"), run_lock(tmp_path, "uc1"):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with run_lock(tmp_path, "uc1"):
            pass
    finally:
        proc.kill()
        proc.wait()
