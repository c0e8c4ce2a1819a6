"""Every config key a message names exists in the schema (common/settings.py): the strings of the code, the README
and config.yaml's comments are read for `section.key` references and each is resolved through the schema, so a
message can never send a user to a key that does not exist (UC3 once named training.gate.promote for what
drift.retrain_promotes governs; that one existed, so its test is beside the gate's)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from common.settings import Settings
from tests.conftest import ROOT

SECTIONS = "|".join(Settings.model_fields)
# a dotted name that starts with a section, not inside a longer dotted name, a path or a call
REFERENCE = re.compile(rf"(?<![\w./-])({SECTIONS})\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?!\.?[\w(/])")
NOT_KEYS = re.compile(r"\.(py|json|yaml|yml|html|parquet|db|md|log|prom|jsonl|io)$")  # files and API groups
# MLflow registry tags that share a section's name: tag names, documented as such, not config keys
TAGS = {
    "fairness.violations",
    "fairness.report",
    "drift.report",
    "drift.reasons",
    "drift.decision_id",
    "drift.champion_version",
    "serving.load_failed",
}


def _resolves(path: list[str]) -> bool:
    """Whether a dotted key exists: sections open into their fields; a dict's next part is any key."""
    node: Any = Settings
    parts = list(path)
    while parts:
        part = parts.pop(0)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            if field is None:
                return False
            node = field.annotation
        elif get_origin(node) is dict:
            node = get_args(node)[1]  # `part` is a key of the dict: a column, a metric, ...
        else:
            return False  # a value has no sub-keys
    return True


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a Python file (f-strings' literal parts too), with their line."""
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _sources() -> list[tuple[str, int, str]]:
    found = []
    for path in [*ROOT.glob("common/**/*.py"), *ROOT.glob("uc[0-9]_*/*.py"), ROOT / "run_all.py"]:
        found += [(str(path.relative_to(ROOT)), n, text) for n, text in _strings(path)]
    docs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
    for name in ("README.md", "config.yaml", *docs):
        lines = (ROOT / name).read_text().splitlines()
        found += [(name, n + 1, line) for n, line in enumerate(lines)]
    return found


def test_every_key_a_message_names_exists() -> None:
    wrong = []
    for where, line, text in _sources():
        for match in REFERENCE.finditer(text):
            reference = match.group(0).rstrip(".")
            if NOT_KEYS.search(reference) or reference in TAGS:
                continue
            if not _resolves(reference.split(".")):
                wrong.append(f"{where}:{line}: {reference}")
    assert wrong == []


def test_the_reader_resolves_real_keys_and_refuses_others() -> None:
    assert _resolves(["drift", "retrain_promotes"]) and _resolves(
        ["dataset", "expectations", "ranges", "age"]
    )
    assert _resolves(["fairness", "thresholds", "demographic_parity_difference"])
    assert not _resolves(["drift", "retrain_promote"]) and not _resolves(["training", "gate", "floors"])
    assert [m.group(0) for m in REFERENCE.finditer("see drift.share_threshold, common.drift.x")] == [
        "drift.share_threshold"
    ]
