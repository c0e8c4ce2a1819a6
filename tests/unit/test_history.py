import json
import multiprocessing
from pathlib import Path

import pytest

from common import history
from common.errors import DataValidationError
from common.workspace import Workspace


def test_a_run_is_recorded_with_its_status_figures_and_duration(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with history.recorded(ws, "step", "uc1_01_x") as entry:
        entry.figures = history.figures_of(
            {"rows": 10, "auc": 0.912345678, "frame": [1, 2], "tag": "data-v1"}
        )
    (run,) = history.read(ws)
    assert (run["kind"], run["name"], run["status"], run["exit_code"]) == ("step", "uc1_01_x", "ok", 0)
    assert run["figures"] == {"rows": 10, "auc": 0.9123, "tag": "data-v1"}  # lists are not figures
    assert run["duration_s"] >= 0 and run["ended_at"] >= run["started_at"]
    assert (tmp_path / "reports" / "index.html").is_file()  # the page follows every record


def test_a_failed_run_is_recorded_with_the_exit_code_its_error_maps_to(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(DataValidationError), history.recorded(ws, "pipeline", "uc1_churn_prediction"):
        raise DataValidationError("customers: 3 rows have age < 0")
    (run,) = history.read(ws)
    assert (run["status"], run["exit_code"]) == ("failed", 3) and "age < 0" in run["error"]
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "age &lt; 0" in page and "<td>failed</td>" in page


def test_a_line_a_killed_writer_tore_is_skipped_and_the_next_run_starts_afresh(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    history.append(ws, {"name": "a"})
    with history.history_file(ws).open("a") as out:
        out.write('{"name": "b", "sta')
    history.append(ws, {"name": "c"})
    assert [r["name"] for r in history.read(ws)] == ["a", "c"]


def _writer(root: str, who: int) -> None:
    for i in range(200):
        history.append(Workspace(root), {"who": who, "i": i, "pad": "x" * 2000})


def test_concurrent_writers_never_interleave_their_lines(tmp_path: Path) -> None:
    procs = [multiprocessing.Process(target=_writer, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = history.history_file(Workspace(tmp_path)).read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["pad"] == "x" * 2000 for line in lines)


def test_the_newest_runs_are_read_from_the_end_of_a_long_history(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with history.history_file(ws).open("w") as out:
        for i in range(5000):
            out.write(json.dumps({"name": f"run-{i}", "error": "x" * (i % 700)}) + "\n")
    newest = history.read(ws, 100)
    assert [r["name"] for r in newest] == [f"run-{i}" for i in range(4900, 5000)]
    assert len(history.read(ws)) == 5000 and history.read(ws, 10_000)[0]["name"] == "run-0"


def test_a_page_that_cannot_be_written_never_fails_the_run_nor_hides_its_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = Workspace(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").mkdir()  # a folder where the page goes: the rename fails
    with history.recorded(ws, "step", "uc1_01_x"):
        pass
    with pytest.raises(DataValidationError, match="3 rows"), history.recorded(ws, "step", "uc1_01_x"):
        raise DataValidationError("3 rows have age < 0")
    assert [r["status"] for r in history.read(ws)] == ["ok", "failed"]
    assert "the run history or reports page was not updated" in caplog.text


def test_a_name_that_is_not_utf8_still_gives_a_page(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(RuntimeError), history.recorded(ws, "step", "uc1_01_x"):
        raise RuntimeError("cannot read caf\udce9.csv")
    assert "cannot read caf?.csv" in (tmp_path / "reports" / "index.html").read_text()


def test_the_runs_of_one_name_are_read_alone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    for name in ("uc1_churn_prediction", "uc1", "uc1_churn_prediction", "run_all"):
        history.append(ws, {"name": name})
    assert [r["name"] for r in history.read(ws, name="uc1_churn_prediction")] == ["uc1_churn_prediction"] * 2


@pytest.mark.parametrize(
    ("code", "status", "exit_code"), [(2, "failed", 2), (None, "ok", 0), ("bye", "failed", 1)]
)
def test_a_sys_exit_inside_a_run_is_recorded_with_its_own_code(
    tmp_path: Path, code: object, status: str, exit_code: int
) -> None:
    """Not 130 (an interrupt) and not the code as an error text: the status the process ends with."""
    ws = Workspace(tmp_path)
    with pytest.raises(SystemExit), history.recorded(ws, "run_all", "run_all"):
        raise SystemExit(code)
    (run,) = history.read(ws)
    assert (run["status"], run["exit_code"]) == (status, exit_code)


def test_execute_hides_our_arguments_and_turns_a_library_exit_into_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse
    import sys

    from common.cli import execute

    monkeypatch.setattr(sys, "argv", ["run_all.py", "--config", "mine.yaml"])
    monkeypatch.setenv("MLOPS_WORKSPACE", str(tmp_path))
    seen = []

    def body(cfg: object, ws: object) -> dict:
        seen.append(list(sys.argv))
        raise SystemExit(2)  # what argparse inside an imported library does with an argv it cannot read

    code = execute("run_all", None, argparse.Namespace(config=None, overrides=[]), body)
    assert seen == [["run_all.py"]] and sys.argv == ["run_all.py", "--config", "mine.yaml"]
    lines = capsys.readouterr().out.splitlines()
    assert code == 2 and len(lines) == 1 and json.loads(lines[0])["exit_code"] == 2
