"""The docs: the README keeps a newcomer's first screen (the two commands first, under 250 lines), and the config
reference the site builds lists every key of the schema, so it cannot drift from common/settings.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from common.settings import Section, Settings

ROOT = Path(__file__).resolve().parents[2]


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "docs" / "hooks" / "config_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keys(model: Any, path: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        is_section = isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        keys += _keys(field.annotation, key) if is_section else [key]
    return keys


def test_the_config_reference_lists_every_key_of_the_schema() -> None:
    text = _hook().reference()
    keys = _keys(Settings)
    assert len(keys) > 100
    missing = [k for k in keys if f"| `{k}` |" not in text]
    assert not missing, missing
    assert "| `training.max_train_rows` | int | 200000 |" in text  # its type and default, from the schema


def test_the_reference_page_is_where_the_hook_writes() -> None:
    hook = _hook()
    page = (ROOT / "docs" / "config-reference.md").read_text()
    assert hook.MARK in page

    class File:
        src_path = "config-reference.md"

    class Page:
        file = File()

    assert "`serving.port`" in hook.on_page_markdown(page, Page())


def test_the_readme_opens_with_the_two_commands_and_stays_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 250
    assert lines[3].startswith("make run") and lines[5].startswith("make test")
