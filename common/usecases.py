"""The use cases, found from their folders: a folder `ucN_<name>/` with an `__init__.py` is use case N, its numbered
steps `ucN_NN_<step>_<tool>.py` run in the order of their numbers, and its package declares the rest:

- `USE_CASE = "ucN"` (required), and its one-line description as the package docstring;
- `AFTER = ("uc1", ...)`: the use cases that run before it in `run_all.py` (the order follows from these);
- `check(cfg)`: its own config check, run before anything starts;
- `decide(ws) -> (decision, where to look)`: what its last run decided, in a line a person reads;
- `OPTIONS`: flags of its `run_pipeline.py`, each a config override (flag, "key=value", help).

Nothing here names a use case or a step: a new folder is a new use case for `run_all.py`, its summary and the reports
page, with no file edited outside it (and a config section, if it needs one)."""

from __future__ import annotations

import heapq
import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FOLDER = re.compile(r"uc(\d+)_[a-z0-9_]+")


@dataclass(frozen=True)
class UseCase:
    name: str  # "uc1"
    package: str  # the folder: "uc1_churn_prediction"
    number: int
    steps: tuple[str, ...]  # the step modules, in order
    after: tuple[str, ...]
    about: str  # the package docstring's first line

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.package)

    def declared(self, name: str, default: Any = None) -> Any:
        return getattr(self.module, name, default)


def steps_of(folder: Path, number: int) -> tuple[str, ...]:
    """The step modules of a use-case folder, by their two-digit number."""
    step = re.compile(rf"uc{number}_(\d\d)_[a-z0-9_]+")
    found = [p.stem for p in folder.glob(f"uc{number}_[0-9][0-9]_*.py") if step.fullmatch(p.stem)]
    return tuple(sorted(found, key=lambda s: int(s.split("_")[1])))


@cache
def discover(root: Path = ROOT) -> tuple[UseCase, ...]:
    """Every use case under `root`, in run order: each after the ones it names in AFTER, otherwise by number."""
    found = {}
    for folder in sorted(root.iterdir()):
        match = FOLDER.fullmatch(folder.name)
        if not (match and folder.is_dir() and (folder / "__init__.py").exists()):
            continue
        package = importlib.import_module(folder.name)
        name = getattr(package, "USE_CASE", None)
        if name != f"uc{match.group(1)}":
            raise ConfigError(
                f"{folder.name}/__init__.py: USE_CASE must be 'uc{match.group(1)}', got {name!r}"
            )
        about = (package.__doc__ or name).strip().splitlines()[0]
        after = tuple(getattr(package, "AFTER", ()))
        found[name] = UseCase(
            name, folder.name, int(match.group(1)), steps_of(folder, int(match.group(1))), after, about
        )
    return tuple(ordered(found))


def ordered(use_cases: dict[str, UseCase]) -> list[UseCase]:
    """Each use case after those it names (ties by number): a topological order, or a ConfigError naming the
    unknown use case or the circle."""
    for uc in use_cases.values():
        unknown = [a for a in uc.after if a not in use_cases]
        if unknown:
            raise ConfigError(f"{uc.package}: AFTER names {unknown}, not a use case here")
    waiting = {name: set(uc.after) for name, uc in use_cases.items()}
    ready = [(uc.number, name) for name, uc in use_cases.items() if not waiting[name]]
    heapq.heapify(ready)
    out: list[UseCase] = []
    while ready:
        _, name = heapq.heappop(ready)
        out.append(use_cases[name])
        for other, needs in waiting.items():
            if name in needs:
                needs.discard(name)
                if not needs:
                    heapq.heappush(ready, (use_cases[other].number, other))
    if len(out) != len(use_cases):
        stuck = sorted(set(use_cases) - {uc.name for uc in out})
        raise ConfigError(f"the use cases {stuck} wait for each other (AFTER makes a circle)")
    return out


def use_case_of(folder: Path) -> UseCase:
    """The use case of a folder (its run_pipeline.py's)."""
    found = next((uc for uc in discover(folder.resolve().parent) if uc.package == folder.name), None)
    if found is None:
        raise ConfigError(f"{folder}: not a use-case folder (ucN_<name>/ with an __init__.py)")
    return found


def find(name: str, root: Path = ROOT) -> UseCase:
    """The use case named `name` ("uc1"), or a ConfigError naming those there are."""
    found = {uc.name: uc for uc in discover(root)}
    if name not in found:
        raise ConfigError(f"no use case {name!r} here: {sorted(found)}")
    return found[name]


ROLE = re.compile(r'^ROLE = "([a-z_]+)"', re.M)


@cache
def roles(root: Path = ROOT) -> dict[str, tuple[UseCase, str]]:
    """Each role a step declares (a module-level `ROLE = "validate"`, read from its source, not imported) and the
    step that declares it, with its use case: how shared code asks for "the step that validated the data"."""
    found: dict[str, tuple[UseCase, str]] = {}
    for uc in discover(root):
        for step in uc.steps:
            declared = ROLE.search((root / uc.package / f"{step}.py").read_text())
            if declared is None:
                continue
            if declared.group(1) in found:
                other = found[declared.group(1)][1]
                raise ConfigError(f"{step} and {other} both declare ROLE = {declared.group(1)!r}")
            found[declared.group(1)] = (uc, step)
    return found


def step_for(role: str) -> str:
    """The step that declares `role`, or a ConfigError naming the roles there are."""
    return _declaring(role)[1]


def script_for(role: str) -> str:
    """The script of the step that declares `role`, relative to the project: what a message tells a user to run."""
    uc, step = _declaring(role)
    return f"{uc.package}/{step}.py"


def owner_of(role: str) -> UseCase:
    return _declaring(role)[0]


def _declaring(role: str) -> tuple[UseCase, str]:
    found = roles()
    if role not in found:
        raise ConfigError(f"no step declares ROLE = {role!r} (declared: {sorted(found)})")
    return found[role]


def pipeline_for(role: str) -> str:
    """The run_pipeline.py of the use case whose step declares `role`, relative to the project."""
    return f"{owner_of(role).package}/run_pipeline.py"
