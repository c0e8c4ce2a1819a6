import json
import os
from pathlib import Path

from common.workspace import Workspace
from uc1_churn_prediction import local_server


def test_a_recorded_pid_that_is_not_our_server_is_ignored(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    record = {"pid": os.getpid(), "version": "1", "port": 1, "host": "127.0.0.1", "spec": {}}
    (ws.dir("serving") / "server.json").write_text(json.dumps(record))  # alive, but it is pytest
    assert local_server.state(ws) is None
    assert local_server.stop(ws) is None  # and nothing is signalled
    assert not (tmp_path / "serving" / "server.json").exists()


def test_no_record_means_no_server(tmp_path: Path) -> None:
    assert local_server.state(Workspace(tmp_path)) is None
