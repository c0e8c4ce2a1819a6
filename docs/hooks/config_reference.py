"""MkDocs hook: the config reference (docs/config-reference.md) generated from the schema in common/settings.py at
every build, so it cannot drift from the code: each section, each key with its type, its default and the comment
beside it in the schema."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

MARK = "<!-- the reference is generated here -->"
COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_path == "config-reference.md":
        return markdown.replace(MARK, reference())
    return markdown


def reference() -> str:
    """Every section of the schema as a table: key, type, default, what it is."""
    from common.settings import Settings

    return "\n".join(_section(Settings, "")).strip() + "\n"


def _section(model: Any, path: str) -> list[str]:
    notes = _comments(model)
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        if _is_section(field.annotation):
            nested.append((field.annotation, key))
            continue
        rows.append(
            f"| `{key}` | {_cell(_type(field.annotation))} | {_cell(_default(field))} | {_cell(notes.get(name, ''))} |"
        )
    out = []
    if rows:
        title = f"`{path}`" if path else "top level"
        doc = (inspect.getdoc(model) or "").splitlines()[0] if path else ""
        out += [f"## {title}", "", doc, "", "| key | type | default | what |", "|---|---|---|---|", *rows, ""]
    for sub, key in nested:
        out += _section(sub, key)
    return out


def _is_section(annotation: Any) -> bool:
    from common.settings import Section

    return isinstance(annotation, type) and issubclass(annotation, Section)


def _comments(model: Any) -> dict[str, str]:
    """The comment beside each field in the schema's source (or on the line above it)."""
    found: dict[str, str] = {}
    above = ""
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above = stripped.lstrip("# ")
            continue
        match = COMMENT.match(line)
        name = re.match(r"^\s+(\w+)\s*:", line)
        if match:
            found[match.group(1)] = match.group(2)
        elif name and above:
            found[name.group(1)] = above
        above = ""
    return found


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "").replace("common.settings.", "")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.is_required():
        return "required"
    else:
        value = field.default
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
