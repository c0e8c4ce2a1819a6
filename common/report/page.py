"""Render <workspace>/reports/index.html: one self-contained, offline page (no script, no CDN) with relative links,
so the workspace folder can be copied or served as it is."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from common.report.sections import Section, collect
from common.workspace import Workspace, write_bytes

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left}
.ok{color:#176d17}.failed{color:#b00020}.skipped,.empty{color:#777}.locked{color:#a65e00}
img{height:220px;margin:.3em;border:1px solid #eee}
"""


def build(ws: Workspace, runs: list[dict[str, Any]]) -> Path:
    """Write the page from what the workspace holds now and the newest `runs` of its history (common.history:
    the caller reads them, so the page never imports the history that rebuilds it); return its path."""
    folder = ws.dir("reports")
    page = folder / "index.html"
    text = render(ws.root, folder, collect(ws), runs)
    write_bytes(page, text.encode(errors="replace"))  # a file name that is not UTF-8 must not stop the page
    return page


def render(root: Path, folder: Path, sections: list[Section], runs: list[dict[str, Any]]) -> str:
    """The page's HTML: the sections' links relative to `folder`, then the runs, newest first."""
    body = "".join(_section(s, folder) for s in sections) + _history(runs)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>MLOps reports</title><style>{STYLE}</style>"
        f"</head><body><h1>MLOps reports</h1><p>workspace {html.escape(str(root))}</p>{body}</body></html>\n"
    )


def _href(path: Path, folder: Path) -> str:
    return html.escape(os.path.relpath(path, folder).replace(os.sep, "/"))


def _section(section: Section, folder: Path) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in section.notes]
    if section.items:
        parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in section.items) + "</ul>")
    if section.links:
        items = "".join(
            f"<li><a href='{_href(p, folder)}'>{html.escape(label)}</a></li>" for label, p in section.links
        )
        parts.append(f"<ul>{items}</ul>")
    for image in section.images:
        link = _href(image, folder)
        parts.append(f"<a href='{link}'><img src='{link}' alt='{html.escape(image.stem)}'></a>")
    if section.table:
        parts.append(_table(section.table[0], section.table[1:]))
    if len(parts) == 1:
        parts.append(f"<p class='empty'>nothing yet: run {html.escape(section.empty)}</p>")
    return "".join(parts)


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    classes = classes or [""] * len(rows)
    lines = [
        f"<tr class='{cls}'>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for cls, row in zip(classes, rows, strict=True)
    ]
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _history(runs: list[dict[str, Any]]) -> str:
    """Newest first: kind, name, start, duration, status and exit code, then its key figures or its error."""
    newest = list(reversed(runs))
    rows = [[*_when(r), r["status"], str(r["exit_code"]), _said(r)] for r in newest]
    header = ["kind", "name", "started (UTC)", "took", "status", "exit", "figures or error"]
    table = (
        _table(header, rows, [r["status"] for r in newest]) if rows else "<p class='empty'>no runs yet</p>"
    )
    return f"<h2>Run history (newest {len(runs)})</h2>{table}"


def _when(run: dict[str, Any]) -> list[str]:
    return [run["kind"], run["name"], run["started_at"], f"{run['duration_s']:.1f}s"]


def _said(run: dict[str, Any]) -> str:
    return run.get("error") or ", ".join(f"{k}={v}" for k, v in run.get("figures", {}).items())
