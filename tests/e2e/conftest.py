"""Workspaces that several end-to-end modules only read, made once per test session (per xdist worker; the
modules that share one are sent to the same worker, see SHARED_SCOPES in tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import run_script


@pytest.fixture(scope="session")
def run_all_ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """run_all.py on the default config in a fresh workspace, as `make run` does. What it left is kept as it
    was (its stderr, the step state, the lineage events): a test that then runs a step in the workspace changes
    none of what the others read from here."""
    ws = tmp_path_factory.mktemp("run_all") / "ws"
    proc = run_script("run_all.py", workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = ws / "lineage" / "events.jsonl"
    return {
        "ws": ws,
        "stderr": proc.stderr,
        "state": json.loads((ws / "state" / "steps.json").read_text()),
        "events": [json.loads(line) for line in events.read_text().splitlines()],
    }
