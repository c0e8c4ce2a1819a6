"""A seventh use case is a folder, nothing more: in a copy of the project, uc5_fairness_docs/ is copied to
uc7_fairness_copy/ with its steps renamed (and without their ROLE lines: a role has one step), and no file outside
the new folder is touched. run_all.py then runs it
(after the use cases it names in AFTER), lists it in its summary with what it decided, and the reports page lists
it. The same run shows run_all's table: every step with its status and duration, each use case's decision, and the
champion answering the request it prints."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_script, summary_of

SKIP = {".git", ".venv", "var", ".pytest_cache", ".ruff_cache", "__pycache__", "mlops_churn.egg-info"}
SEVEN = ["uc1", "uc2", "uc3", "uc5", "uc4", "uc6", "uc7"]


def _copy_project(to: Path) -> Path:
    shutil.copytree(ROOT, to, ignore=lambda _d, names: [n for n in names if n in SKIP or n.endswith(".pyc")])
    return to


def _add_uc7(project: Path) -> Path:
    """uc5_fairness_docs copied as uc7_fairness_copy: the folder, its files and the names inside them."""
    folder = project / "uc7_fairness_copy"
    shutil.copytree(project / "uc5_fairness_docs", folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted(folder.glob("*.py")):
        text = path.read_text().replace("uc5_fairness_docs", "uc7_fairness_copy")
        text = re.sub(r"\buc5_(\d\d)_", r"uc7_\1_", text).replace('USE_CASE = "uc5"', 'USE_CASE = "uc7"')
        text = re.sub(r'^ROLE = "[a-z_]+".*$', "", text, flags=re.M)  # the roles stay with the original steps
        path.unlink()
        (folder / re.sub(r"^uc5_", "uc7_", path.name)).write_text(text)
    return folder


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not (set(p.relative_to(root).parts) & SKIP) and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def seventh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = _copy_project(tmp_path_factory.mktemp("project") / "mlops")
    before = _files(project)
    _add_uc7(project)
    ws = tmp_path_factory.mktemp("seventh") / "ws"
    proc = _run_all(project, ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"project": project, "before": before, "ws": ws, "proc": proc, "report": summary_of(proc)}


def test_the_new_folder_is_the_only_change(seventh: dict[str, Any]) -> None:
    after = _files(seventh["project"])
    changed = {k for k in set(after) | set(seventh["before"]) if after.get(k) != seventh["before"].get(k)}
    assert changed and all(k.startswith("uc7_fairness_copy/") for k in changed), sorted(changed)


def test_run_all_runs_the_seventh_and_lists_it_with_its_decision(seventh: dict[str, Any]) -> None:
    report = seventh["report"]
    assert [uc["use_case"] for uc in report["use_cases"]] == SEVEN
    uc7 = report["use_cases"][-1]
    assert uc7["status"] == "ok", uc7
    assert [s["step"] for s in uc7["steps"]] == [
        "uc7_01_fairness_analysis_fairlearn",
        "uc7_02_generate_model_card",
    ]
    decided = {d["use_case"]: d["decision"] for d in report["decisions"]}
    assert decided["uc7"].startswith("card written for v1 (fairness ")
    assert re.search(r"^  uc7   uc7_02_generate_model_card +ok ", seventh["proc"].stderr, re.M)
    history = [
        json.loads(line) for line in (seventh["ws"] / "state" / "history.jsonl").read_text().splitlines()
    ]
    assert ("pipeline", "uc7_fairness_copy", "ok") in {(r["kind"], r["name"], r["status"]) for r in history}
    page = (seventh["ws"] / "reports" / "index.html").read_text()
    assert "<td>uc7</td><td>UC5: fairness analysis and the model card.</td><td>2 of 2 steps</td>" in page


def test_run_all_prints_each_step_with_status_and_duration(seventh: dict[str, Any]) -> None:
    proc, report, ws = seventh["proc"], seventh["report"], seventh["ws"]
    for uc in report["use_cases"]:
        for step in uc["steps"]:  # its status and duration, then why it was skipped, if it was
            line = rf"^  {uc['use_case']} +{step['step']} +{step['status']} +\d+\.\ds( .*)?$"
            assert re.search(line, proc.stderr, re.M), step
    assert report["run_all"] == "ok" and report["use_cases"][0]["use_case"] == "uc1"
    decided = {d["use_case"]: d["decision"] for d in report["decisions"]}
    assert decided["uc1"].startswith(
        "trained v1 (challenger, champion); served v1; scored data-v1 by v1 into"
    )
    assert decided["uc2"] == "no challenger (the challenger is version 1, the champion itself)"
    assert re.fullmatch(
        r"deployed v1 to staging through git at [0-9a-f]{12} \(Synced, Healthy\)", decided["uc6"]
    )
    assert "what each use case decided:" in proc.stderr and f"uc1   {decided['uc1']}" in proc.stderr
    assert f"every report and the run history (open offline): {report['reports']}" in proc.stderr
    runs = [json.loads(line) for line in (ws / "state" / "history.jsonl").read_text().splitlines()]
    assert runs[-1]["kind"] == "run_all" and runs[-1]["figures"] == {
        uc: "skipped" if uc == "uc2" else "ok" for uc in decided
    }
    assert (
        sum(r["kind"] == "pipeline" for r in runs) == len(SEVEN)
        and sum(r["kind"] == "step" for r in runs) >= 20
    )
    assert f"the champion answers at {report['endpoint']}" in proc.stderr
    # ...and it does, over HTTP, to the printed request: an id-only instance completed from the online store
    (sample,) = report["sample"]["instances"]
    assert list(sample) == ["customer_id"] and json.dumps(report["sample"]) in proc.stderr
    body = json.dumps(report["sample"]).encode()
    request = urllib.request.Request(report["endpoint"], body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        (prediction,) = json.loads(resp.read())["predictions"]
    assert prediction["customer_id"] == sample["customer_id"] and 0 <= prediction["churn_probability"] <= 1


def test_a_use_case_that_waits_for_an_unknown_one_or_takes_a_taken_role_is_named(tmp_path: Path) -> None:
    from common.errors import ConfigError
    from common.usecases import UseCase, ordered

    project = _copy_project(tmp_path / "mlops")
    folder = _add_uc7(project)
    init = folder / "__init__.py"
    init.write_text(re.sub(r"AFTER = \([^)]*\)", 'AFTER = ("uc9",)', init.read_text()))
    proc = _run_all(project, tmp_path / "ws")
    assert (
        proc.returncode == 2 and "uc7_fairness_copy: AFTER names ['uc9'], not a use case here" in proc.stderr
    )
    init.write_text(init.read_text().replace('AFTER = ("uc9",)', 'AFTER = ("uc3",)'))
    step = folder / "uc7_01_fairness_analysis_fairlearn.py"
    step.write_text(step.read_text() + '\nROLE = "fairness"\n')  # the original's role, taken twice
    proc = _run_all(project, tmp_path / "ws")
    said = "uc7_01_fairness_analysis_fairlearn and uc5_01_fairness_analysis_fairlearn both declare ROLE"
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr[-2000:]
    with pytest.raises(ConfigError, match=r"the use cases \['a', 'b'\] wait for each other"):
        ordered({n: UseCase(n, n, i, (), (o,), n) for i, (n, o) in enumerate((("a", "b"), ("b", "a")))})


def _run_all(project: Path, ws: Path) -> Any:
    """run_all.py of the project copy: its packages come first on the path, so its common/ finds its folders."""
    return run_script(str(project / "run_all.py"), workspace=ws, env={"PYTHONPATH": str(project)})
