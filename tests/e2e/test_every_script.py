"""Every entry point as a user calls it: each script of ucN_*/, run_all.py and the `python -m common...` tools take
`--help` (their help text) and `--config <a copy of config.yaml>` (exit 0 and one JSON line on stdout), whatever
they import: kserve parses sys.argv when it is imported and must never see ours. The scripts run in lifecycle
order in one fresh workspace; UC1's pipeline after its steps, on the same unchanged data, makes no new data or
model version; step 02 exports the version by its tag and lists it. (run_all with --config:
test_your_own_config.py; a second run_all that makes nothing new: test_uc1_any_table.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_script, serving_port

ORDER = ["uc1", "uc2", "uc3", "uc5", "uc4", "uc6"]  # run_all's order
TOOLS = [  # the tools a user runs beside the steps, with arguments that leave the lifecycle as it is
    ["-m", "common.report"],
    ["common/data/sample_data.py", "--feedback"],
]


def _scripts() -> list[str]:
    """Every script with a main() in the use-case folders: steps in order, then the pipeline."""
    found = []
    for prefix in ORDER:
        folder = next(ROOT.glob(f"{prefix}_*/"))
        found += sorted(str(p.relative_to(ROOT)) for p in folder.glob(f"{prefix}_[0-9][0-9]_*.py"))
        found.append(str((folder / "run_pipeline.py").relative_to(ROOT)))
    return found


SHARED_RUNNER = "run, main = use_case_script(__file__, __doc__)"


def _run_in_order() -> list[str]:
    """The scripts the lifecycle test runs: every step, and UC1's pipeline. The other pipelines are the same
    one line over the shared runner as UC1's (checked here from their source), run_all runs them all with the
    same --config, and running each again after its steps took ~45 s of the suite for no new line of code."""
    pipelines = [s for s in _scripts() if s.endswith("run_pipeline.py")]
    for pipeline in pipelines:
        assert SHARED_RUNNER in (ROOT / pipeline).read_text(), f"{pipeline} no longer uses the shared runner"
    return [s for s in _scripts() if not s.endswith("run_pipeline.py") or s.startswith("uc1_")]


def _one_json_line(proc: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got {lines!r}\n{proc.stderr[-2000:]}"
    return json.loads(lines[0])


def _help(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_every_entry_point_shows_its_help_with_config_and_set() -> None:
    entries = [[s] for s in [*_scripts(), "run_all.py"]] + [
        ["-m", "common.experiment.replay"],
        *[[t[0], t[1]] if t[0] == "-m" else [t[0]] for t in TOOLS],
    ]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(_help, entries))
    for args, proc in zip(entries, done, strict=True):
        assert proc.returncode == 0, f"{args}: {proc.stderr[-2000:]}"
        assert proc.stdout.startswith("usage:") and "--config" in proc.stdout and "--set" in proc.stdout, args


@pytest.fixture(scope="module")
def config_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.yaml as a user copies it: another folder, another name."""
    path = tmp_path_factory.mktemp("user") / "my-config.yaml"
    shutil.copy(ROOT / "config.yaml", path)
    return path


def test_every_script_takes_config_and_prints_one_json_line(tmp_path: Path, config_copy: Path) -> None:
    ws = tmp_path / "ws"
    said = {}
    for script in _run_in_order():
        proc = run_script(script, "--config", str(config_copy), workspace=ws)
        assert proc.returncode == 0, f"{script}: {proc.stderr[-3000:]}"
        said[script] = summary = _one_json_line(proc)
        assert summary.get("status") != "failed", f"{script}: {summary}"
    _uc1_pipeline_after_its_steps_makes_no_new_version(ws, said)
    for tool in TOOLS:
        proc = run_script(*tool, "--config", str(config_copy), workspace=ws)
        assert proc.returncode == 0, f"{tool}: {proc.stderr[-3000:]}"
        _one_json_line(proc)
    endpoint = f"http://127.0.0.1:{serving_port(ws)}/v1/models/churn-predictor:predict"
    extract = shutil.copy(next((ws / "objects" / "mlops" / "raw").glob("*.parquet")), tmp_path)
    # the table's rows as the warehouse returns them, then the extract's as step 01 wrote them: every column
    for source in (["--table"], ["--data", str(extract)]):
        load = [
            *source,
            "--endpoint",
            endpoint,
            "--duration",
            "2",
            "--rate",
            "100",
            "--config",
            str(config_copy),
        ]
        proc = run_script("-m", "common.experiment.replay", *load, workspace=ws)
        assert proc.returncode == 0 and _one_json_line(proc)["answers"] == {"200": 200}, proc.stderr[-3000:]
    _the_data_version_reads_back_by_its_tag(ws)


def _uc1_pipeline_after_its_steps_makes_no_new_version(ws: Path, said: dict[str, dict]) -> None:
    """UC1's steps one by one, then its pipeline on the same data and training config: the pipeline trains
    nothing, so there is one model version."""
    steps = [s for s in _scripts() if s.startswith("uc1_") and not s.endswith("run_pipeline.py")]
    assert [said[s]["status"] for s in steps] == ["ok"] * len(steps)
    again = {s["step"]: s["status"] for s in said["uc1_churn_prediction/run_pipeline.py"]["steps"]}
    assert list(again) == [Path(s).stem for s in steps]
    assert [s for s, status in again.items() if status != "ok"] == ["uc1_05_model_training_kubeflow"]
    pipeline = {s["step"]: s for s in said["uc1_churn_prediction/run_pipeline.py"]["steps"]}
    trained = pipeline["uc1_05_model_training_kubeflow"]
    assert "version 1 was trained on data-v1" in trained["reason"]
    assert _data_versions(ws) == ["data-v1"] and _model_versions(ws) == ["1"]
    assert _batch_rows(ws) == {("data-v1", "1"): 2000}  # step 07 ran twice: replaced, not duplicated
    state = json.loads((ws / "state" / "steps.json").read_text())
    assert state["uc1_02_data_versioning_dvc"]["outputs"]["created"] is False


def _the_data_version_reads_back_by_its_tag(ws: Path) -> None:
    """Step 02's own commands: the version exported by its tag, and the list. (A changed table as a new data
    version, scored by the champion of the day: test_lifecycle_story.py; an old version read back from the remote
    while a newer one is checked out: tests/integration/test_s3.py.)"""
    import pandas as pd

    versioning = "uc1_churn_prediction/uc1_02_data_versioning_dvc.py"
    exported = _one_json_line(run_script(versioning, "--export", "data-v1", workspace=ws))
    assert len(pd.read_parquet(exported["path"])) == 2000
    listed = run_script(versioning, "--list-versions", workspace=ws)
    assert [v["tag"] for v in _one_json_line(listed)["versions"]] == ["data-v1"]


def _batch_rows(ws: Path) -> dict[tuple[str, str], int]:
    """Step 07's rows in the warehouse, by data and model version."""
    import sqlite3

    with sqlite3.connect(ws / "warehouse" / "warehouse.db") as conn:
        query = "SELECT data_version, model_version, count(*) FROM churn_predictions GROUP BY 1, 2"
        return {(d, m): n for d, m, n in conn.execute(query)}


def _data_versions(ws: Path) -> list[str]:
    tags = subprocess.run(
        ["git", "-C", str(ws / "data-registry"), "tag", "--list", "data-v*"],
        capture_output=True,
        text=True,
        check=True,
    )
    return tags.stdout.split()


def _registry(ws: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    return MlflowClient(uri, uri)  # the registry too: else MLflow's process-wide default


def _model_versions(ws: Path) -> list[str]:
    return sorted(str(mv.version) for mv in _registry(ws).search_model_versions("name = 'churn-predictor'"))


def test_run_all_checks_every_use_case_config_first_and_lists_all_six(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    proc = run_script("run_all.py", "--set", "fairness.sensitive_features=[gender, salary]", workspace=ws)
    assert proc.returncode == 2, proc.stderr[-3000:]
    report = _one_json_line(proc)
    assert "fairness.sensitive_features ['salary']" in report["error"]
    assert [(uc["use_case"], uc["status"]) for uc in report["use_cases"]] == [(u, "not run") for u in ORDER]
    assert all("the config check failed" in uc["reason"] for uc in report["use_cases"])
    assert not (ws / "warehouse").exists()  # nothing started: not even the warehouse was seeded


def test_after_a_failed_use_case_run_all_lists_the_others_as_not_run(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    missing = ["--set", "dataset.table=nobody_here", "--set", "sample_data.enabled=false"]
    proc = run_script("run_all.py", *missing, workspace=ws)
    assert proc.returncode == 3, proc.stderr[-3000:]
    report = _one_json_line(proc)
    assert [(uc["use_case"], uc["status"]) for uc in report["use_cases"]] == [("uc1", "failed")] + [
        (u, "not run") for u in ORDER[1:]
    ]
    assert all(uc["reason"] == "after uc1 failed" for uc in report["use_cases"][1:])
    assert "  uc6   not run: after uc1 failed" in proc.stderr
