from pathlib import Path

import pytest

from common.errors import MissingInputError
from common.step import StepResult
from common.workspace import Workspace, atomic_path, write_text


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "report.json"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    dest = tmp_path / "a.txt"
    write_text(dest, "one")
    write_text(dest, "two")
    assert dest.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_results_are_recorded_for_a_later_step_in_another_process(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.record(StepResult(step="s1", outputs={"uri": "file:///x"}, metrics={"rows": 3}))
    ws.record(StepResult(step="s2", outputs={"tag": "data-v1"}))
    again = Workspace(tmp_path)  # as a later process sees it
    assert again.require("s1", "run s1").outputs == {"uri": "file:///x"}
    assert again.result("s2").outputs["tag"] == "data-v1"


def test_require_names_the_missing_step_and_the_hint(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match=r"step s0 .*run s0\.py first"):
        Workspace(tmp_path).require("s0", "run s0.py first")


def test_scratch_file_is_removed_even_on_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(ValueError), ws.scratch("x.parquet") as tmp:
        tmp.write_text("data")
        raise ValueError
    assert list((tmp_path / "tmp").iterdir()) == []


def test_relative_workspace_is_under_the_repo_root() -> None:
    assert Workspace("var").root == Path(__file__).resolve().parents[2] / "var"
