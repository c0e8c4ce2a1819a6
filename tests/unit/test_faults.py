"""Bad lines and files are quarantined, not fatal; bad values are validation errors naming them; files are
written with the workspace's umask; a recorded pid is checked before any signal (issue 23's findings 6-15)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.workspace import Workspace, write_text
from tests.conftest import ROOT, summary_of


def _event(run_id: str, kind: str = "COMPLETE") -> str:
    return json.dumps(
        {
            "eventType": kind,
            "eventTime": "2026-01-01T00:00:00Z",
            "run": {"runId": run_id},
            "job": {"namespace": "n", "name": run_id},
            "inputs": [],
            "outputs": [],
        }
    )


def test_a_torn_events_line_is_quarantined_and_the_other_events_are_read(tmp_path: Path) -> None:
    """Before, a torn last line of lineage/events.jsonl failed every query (uc4_02) for good."""
    from common.config import load_config
    from common.lineage.sources import open_source
    from common.quarantine import counts
    from common.report.page import build

    ws = Workspace(tmp_path)
    events = ws.dir("lineage") / "events.jsonl"
    events.write_text(_event("a") + "\n" + _event("b") + "\n" + '{"eventType": "COMPL')
    cfg = load_config(overrides=[f"workspace={tmp_path}", "lineage.backend=file"], environ={})
    source = open_source(cfg, ws)
    assert sorted(r.node.run_id for r in source.runs) == ["a", "b"]
    kept = list((tmp_path / "quarantine" / "lineage-events").iterdir())
    assert len(kept) == 1 and kept[0].read_text() == '{"eventType": "COMPL\n'
    open_source(cfg, ws)  # read again: the same torn line is not counted twice
    assert counts(ws) == {"lineage-events": 1}
    page = build(ws, []).read_text()
    assert "Quarantine" in page and "<td>lineage-events</td><td>1</td>" in page


def _log_file(path: Path, start: datetime) -> None:
    frame = pd.DataFrame({"ts": [start + timedelta(minutes=i) for i in range(3)], "age": [30.0, 40.0, 50.0]})
    frame.to_parquet(path)


def test_an_unreadable_inference_log_file_is_quarantined_and_the_rest_read(tmp_path: Path) -> None:
    """Before, one torn Parquet file failed UC3 on every run, and run_all stopped there."""
    from common.drift.window import read_window
    from common.quarantine import counts, move_file

    ws = Workspace(tmp_path / "ws")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    good, torn = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _log_file(good, start)
    _log_file(torn, start)
    torn.write_bytes(torn.read_bytes()[:40])  # a writer killed mid-file
    window = read_window(
        [good, torn],
        start,
        start + timedelta(days=1),
        ["age"],
        1000,
        0,
        on_bad=lambda path, exc: move_file(ws, path, "inference-log", f"{type(exc).__name__}: {exc}"),
    )
    assert (window.rows, window.files, window.quarantined) == (3, 1, 1)
    assert not torn.exists() and len(list((tmp_path / "ws" / "quarantine" / "inference-log").iterdir())) == 1
    index = [
        json.loads(line) for line in (tmp_path / "ws" / "quarantine" / "index.jsonl").read_text().splitlines()
    ]
    assert index[0]["what"] == str(torn) and index[0]["why"]
    assert counts(ws) == {"inference-log": 1}


def test_a_git_lock_older_than_the_run_is_removed_and_a_fresh_one_kept(tmp_path: Path) -> None:
    """Before, a .git/index.lock left by a killed git failed every UC6 run. The run lock proves no git of ours
    runs now, so a lock older than this process is stale; one made since is not ours to judge."""
    from common.gitops.repo import clear_stale_locks

    git_dir = tmp_path / ".git"
    (git_dir / "refs" / "heads").mkdir(parents=True)
    stale, ref_lock, fresh = (
        git_dir / "index.lock",
        git_dir / "refs" / "heads" / "main.lock",
        git_dir / "x.lock",
    )
    for path in (stale, ref_lock):
        path.write_text("")
        os.utime(path, (time.time() - 10**6, time.time() - 10**6))
    fresh.write_text("")
    assert sorted(clear_stale_locks(git_dir)) == sorted([stale, ref_lock])
    assert not stale.exists() and not ref_lock.exists() and fresh.exists()


def test_feedback_labels_outside_the_domain_are_a_validation_error_naming_them() -> None:
    """Before, a label 2 or "maybe" reached sklearn and failed with its own message."""
    from common.drift.feedback import as_labels
    from common.errors import DataValidationError
    from common.settings import DatasetCfg

    ds = DatasetCfg(positive_label="Yes", negative_labels=["No"])
    assert as_labels(pd.Series(["Yes", "no", 1, "0"]), ds, "fb").tolist() == [1, 0, 1, 0]
    with pytest.raises(
        DataValidationError, match=r"fb\.label: 3 value\(s\) are not labels: .*'2': 2.*'maybe': 1"
    ):
        as_labels(pd.Series(["Yes", "2", "maybe", 2]), ds, "fb")


def test_a_group_whose_labels_are_one_class_is_reported_not_computable_with_why() -> None:
    """Before, UC5 crashed with KeyError 'operator' when a judged group had labels of one class only."""
    from common.fairness.report import _thresholds
    from common.fairness.whatif import equal_tpr_thresholds

    rng = np.random.default_rng(0)
    groups = np.array(["a"] * 50 + ["b"] * 50)
    y = np.concatenate([rng.integers(0, 2, 50), np.zeros(50, dtype=int)])  # group b: no positive
    found = equal_tpr_thresholds(y, rng.random(100), groups)
    text = _thresholds(next(iter(found.values())))
    assert "not computable" in found and text.startswith("not computable: ") and len(text) > 20, found


def test_files_are_written_with_the_workspace_umask(tmp_path: Path) -> None:
    """Before, every atomic write kept mkstemp's 0600, so a workspace served by another user could not be read."""
    code = "import os, sys; os.umask(0o027); from common.workspace import write_text; write_text(sys.argv[1], 'x')"
    target = tmp_path / "r" / "page.html"
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, check=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    write_text(tmp_path / "again.json", "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "again.json").stat().st_mode) == 0o666 & ~mask


def test_a_recorded_load_pid_that_is_not_our_replay_is_never_signalled(tmp_path: Path) -> None:
    """Before, uc2_03 killed the process group of whatever pid load.json named: after a reboot, anyone's."""
    from uc2_ab_testing.uc2_03_monitor_experiment import stop_load

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        (tmp_path / "load.json").write_text(json.dumps({"pid": stranger.pid}))
        stop_load(tmp_path)
        time.sleep(0.3)
        assert stranger.poll() is None  # alive: it runs no replay of this experiment
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("workspace=/proc/no-such/ws", "workspace: /proc/no-such/ws cannot hold the run's files"),
        ("workspace={file}", "cannot hold the run's files"),
        ("lineage.url=notaurl", "lineage.url"),
        ("dataset.table=../../x", "dataset.table"),
    ],
)
def test_a_config_error_exits_2_with_one_json_line_naming_it(
    tmp_path: Path, override: str, named: str
) -> None:
    """Before, each of these exited 1, the first two with a traceback and no JSON line."""
    afile = tmp_path / "a-file"
    afile.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_WORKSPACE"}
    proc = subprocess.run(
        [
            sys.executable,
            "uc4_data_lineage/uc4_02_query_lineage_marquez.py",
            "--set",
            override.format(file=afile),
        ],
        cwd=ROOT,
        env={**env, "MLOPS_WORKSPACE": str(tmp_path / "ws")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(proc.stdout.strip().splitlines()) == 1 and named in summary_of(proc)["error"], proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_rollback_moves_back_every_lifecycle_alias_that_named_the_reverted_version(tmp_path: Path) -> None:
    """Before, --rollback moved gitops.alias only: batch scores, drift and fairness went on with the reverted
    version. The candidate alias stays where it is (a rolled-back version is not canaried again)."""
    from common.config import load_config
    from common.gitops.rollback import follow_in_registry
    from common.model.tracking import client_for, tracking_uri

    sets = ["batch.alias=scoring", "fairness.alias=judged", "drift.alias=reference"]
    cfg = load_config(overrides=[f"workspace={tmp_path}", *sets], environ={})
    ws = Workspace(tmp_path)
    client = client_for(tracking_uri(cfg, ws))
    name = cfg.training.registered_model
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, (tmp_path / "model").as_uri())
    for alias in ("champion", "scoring", "judged", "reference", "challenger"):
        client.set_registered_model_alias(name, alias, "2")
    rolled = {"model": name, "from_version": "2", "to_version": "1", "reverted": ["a" * 40]}
    follow_in_registry(cfg, ws, rolled)
    follow_in_registry(cfg, ws, rolled)  # idempotent
    aliases = client.get_registered_model(name).aliases
    assert aliases == {"champion": 1, "scoring": 1, "judged": 1, "reference": 1, "challenger": 2}, aliases
    assert client.get_model_version(name, "2").tags["rolled_back"].endswith("reverted")
