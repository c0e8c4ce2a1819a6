"""Every entry point as a user calls it: each script of ucN_*/, run_all.py and the `python -m common...` tools take
`--help` (their help text) and `--config <a copy of config.yaml>` (exit 0 and one JSON line on stdout), whatever
they import: kserve parses sys.argv when it is imported and must never see ours. The scripts run in lifecycle
order in one fresh workspace; run_all last, on the same unchanged data, makes no new data or model version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
        ["-m", "common.serving.replay"],
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
    for script in _scripts():
        proc = run_script(script, "--config", str(config_copy), workspace=ws)
        assert proc.returncode == 0, f"{script}: {proc.stderr[-3000:]}"
        summary = _one_json_line(proc)
        assert summary.get("status") != "failed", f"{script}: {summary}"
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
        proc = run_script("-m", "common.serving.replay", *load, workspace=ws)
        assert proc.returncode == 0 and _one_json_line(proc)["answers"] == {"200": 200}, proc.stderr[-3000:]

    again = run_script("run_all.py", "--config", str(config_copy), workspace=ws)
    assert again.returncode == 0, again.stderr[-3000:]
    report = _one_json_line(again)
    assert [uc["use_case"] for uc in report["use_cases"]] == ORDER
    assert _data_versions(ws) == ["data-v1"]
    trained = next(
        s for s in report["use_cases"][0]["steps"] if s["step"] == "uc1_05_model_training_kubeflow"
    )
    assert trained["status"] == "skipped" and "version 1 was trained on data-v1" in trained["reason"]
    assert _model_versions(ws) == ["1"]


def _data_versions(ws: Path) -> list[str]:
    tags = subprocess.run(
        ["git", "-C", str(ws / "data-registry"), "tag", "--list", "data-v*"],
        capture_output=True,
        text=True,
        check=True,
    )
    return tags.stdout.split()


def _model_versions(ws: Path) -> list[str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)  # the registry too: else MLflow's process-wide default
    return sorted(str(mv.version) for mv in client.search_model_versions("name = 'churn-predictor'"))


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
