"""The layout rule, read from the source: common/ is the shared library and imports no use case; a use case
imports no other; a use-case folder holds only its numbered steps and run_pipeline.py."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USE_CASE = re.compile(r"uc\d+_[a-z_]+")
USE_CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and USE_CASE.fullmatch(p.name))


def imported(path: Path) -> set[str]:
    """Every module a file imports."""
    return imports_of(path.read_text(), ".".join(path.relative_to(ROOT).parent.parts))


def imports_of(source: str, package: str) -> set[str]:
    """Every module `source` imports, at the top or inside functions, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            names.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return names


def use_cases_in(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules if USE_CASE.fullmatch(m.split(".")[0])}


def test_there_are_use_cases_and_a_shared_library() -> None:
    assert "uc1_churn_prediction" in USE_CASES
    assert {"data", "features", "model", "serving"} <= {
        p.name for p in (ROOT / "common").iterdir() if p.is_dir()
    }


@pytest.mark.parametrize(
    "path", sorted((ROOT / "common").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_common_imports_no_use_case(path: Path) -> None:
    assert not use_cases_in(imported(path)), f"{path.relative_to(ROOT)} imports a use case"


@pytest.mark.parametrize("use_case", USE_CASES)
def test_a_use_case_imports_no_other(use_case: str) -> None:
    for path in sorted((ROOT / use_case).rglob("*.py")):
        others = use_cases_in(imported(path)) - {use_case}
        assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}"


@pytest.mark.parametrize("use_case", USE_CASES)
def test_a_use_case_folder_holds_its_steps_and_pipeline_only(use_case: str) -> None:
    step = re.compile(rf"{use_case.split('_')[0]}_\d\d_[a-z0-9_]+\.py")
    extra = [
        p.name
        for p in (ROOT / use_case).glob("*.py")
        if p.name not in ("__init__.py", "run_pipeline.py") and not step.fullmatch(p.name)
    ]
    assert not extra, f"{use_case} holds modules that belong in common/: {extra}"


def test_the_checker_sees_imports_inside_functions_and_relative_ones() -> None:
    """The rules above are only as good as `imports_of`: it must catch what a lazy or relative import hides."""
    source = "def f():\n    from uc1_churn_prediction import run_pipeline\nfrom . import contract\nfrom .. import log\n"
    found = imports_of(source, "common.serving")
    assert use_cases_in(found) == {"uc1_churn_prediction"}
    assert {"common.serving.contract", "common.log"} <= found


def module_graph(root: Path, package: str = "common") -> dict[str, set[str]]:
    """The import graph of `package` under `root`: each module and the modules of the package it imports (a
    package's `__init__` under the package's own name), lazy and relative imports included."""
    modules = {}
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {
        name: (imports_of(path.read_text(), ".".join(path.relative_to(root).parent.parts)) & modules.keys())
        - {name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle of `graph`, as the modules around it, sorted (networkx's simple cycles)."""
    import networkx as nx

    edges = [(a, b) for a, bs in graph.items() for b in bs]
    return sorted(sorted(c) for c in nx.simple_cycles(nx.DiGraph(edges)))


def test_common_has_no_import_circle() -> None:
    found = cycles(module_graph(ROOT))
    assert not found, f"import circles in common/: {found}"


def test_the_circle_finder_sees_a_circle_closed_by_a_lazy_import(tmp_path: Path) -> None:
    serving = tmp_path / "common" / "serving"
    serving.mkdir(parents=True)
    for init in (tmp_path / "common" / "__init__.py", serving / "__init__.py"):
        init.write_text("")
    (serving / "server.py").write_text("def build():\n    from .split import Split\n")
    (serving / "split.py").write_text("from common.serving.server import HEADER\n")
    (serving / "app.py").write_text("from common.serving import server\n")
    assert cycles(module_graph(tmp_path)) == [["common.serving.server", "common.serving.split"]]


def test_the_model_wing_does_not_reach_up_into_the_chain() -> None:
    """common/model is below common/chain (the steps' glue): no module of the wing imports it."""
    for path in sorted((ROOT / "common" / "model").rglob("*.py")):
        upward = {m for m in imported(path) if m == "common.chain" or m.startswith("common.chain.")}
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}"


def test_common_names_no_step_file() -> None:
    """Shared code asks for a step by the role it declares (common.usecases.step_for), never by its file name."""
    step = re.compile(r"\buc\d+_\d\d_[a-z]")
    named = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / "common").rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if step.search(line)
    ]
    assert not named, named


def test_each_role_is_declared_by_one_step_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    from common.errors import ConfigError
    from common.usecases import roles, step_for

    assert step_for("validate") == "uc1_03_data_validation_ge" and len(roles()) >= 15
    with pytest.raises(ConfigError, match=r"no step declares ROLE = 'nowhere' \(declared: \[.*'validate'"):
        step_for("nowhere")
