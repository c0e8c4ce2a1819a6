"""The fairness analysis as one self-contained HTML page: plots inlined as base64 PNG, no script, no CDN."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from common.fairness.metrics import GROUP_METRICS

STYLE = (
    "body{font:14px sans-serif;margin:16px;max-width:1100px} td,th{border:1px solid #ccc;padding:2px 8px}"
    "table{border-collapse:collapse;margin:8px 0} .small{color:#999} .failed{background:#f7d6d6}"
    ".passed{background:#d9f2d9} .inconclusive{background:#fbefc9} img{margin:4px;border:1px solid #ddd}"
)


def render(result: dict[str, Any], folder: Path) -> str:
    title = f"Fairness of {result['model']} v{result['version']}: {result['verdict']}"
    violations = "".join(f"<li>{html.escape(v)}</li>" for v in result["violations"]) or "<li>none</li>"
    unsure = "".join(f"<li>{html.escape(v)}</li>" for v in result.get("inconclusive", [])) or "<li>none</li>"
    production = result.get("production") or {"rows": 0, "note": "not read"}
    sections = "".join(
        _feature(name, found, folder) + _side_by_side(name, found, production)
        for name, found in result["features"].items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1 class='{result['verdict']}'>{html.escape(title)}</h1>"
        f"<p>{result['rows']} rows ({html.escape(result['data'])}), decision threshold "
        f"{result['threshold']:.4f}; intervals: 95 % bootstrap over {result['bootstrap_rounds']} rounds; groups "
        f"under {result['min_group_size']} rows are grey, too small to judge: shown, and left out of the "
        f"disparities. An intersection (a & b) is one group per combination. Enforcement: "
        f"{result['enforce']}.</p><h2>Violations</h2><p>A disparity whose whole interval is past its threshold."
        f"</p><ul>{violations}</ul><h2>Inconclusive</h2><p>A disparity whose interval straddles its threshold: "
        "not a violation, not a pass."
        f"</p><ul>{unsure}</ul>{_production(production)}{sections}</body></html>\n"
    )


def _feature(name: str, found: dict[str, Any], folder: Path) -> str:
    head = "".join(f"<th>{m}</th>" for m in ("group", "count", *GROUP_METRICS))
    rows = "".join(_group(g, row) for g, row in found["groups"].items())
    spans = found.get("disparity_intervals", {})
    disparities = "".join(
        f"<tr><td>{k}</td><td>{_fmt(v)}</td><td>{_span(spans.get(k))}</td></tr>"
        for k, v in found["disparities"].items()
    )
    thresholds = "".join(
        f"<tr><td>{html.escape(g)}</td><td>{html.escape(_thresholds(parts))}</td></tr>"
        for g, parts in found["equal_tpr_thresholds"].items()
    )
    flip = "not measured" if found["flip_rate"] is None else f"{found['flip_rate']:.2%}"
    if len(found.get("parts", [name])) > 1:
        flip += " (an intersection: each part's own flip rate is in its section)"
    images = "".join(_image(folder / p) for p in found["plots"])
    return (
        f"<h2>{html.escape(name)}</h2><table><tr>{head}</tr>{rows}</table>"
        f"<table><tr><th>disparity</th><th>value</th><th>95 % interval</th></tr>{disparities}</table>"
        f"<p>Counterfactual flip rate (only {html.escape(name)} changed): {flip}</p>"
        "<p>Thresholds that would equalize the true-positive rate (fairlearn ThresholdOptimizer; "
        f"information only, not applied):</p><table>{thresholds}</table><div>{images}</div>"
    )


def _thresholds(parts: list[dict[str, Any]]) -> str:
    """A group's equal-TPR thresholds, or why they could not be computed (a group whose labels are one class)."""
    if any("reason" in p for p in parts):
        return "not computable: " + "; ".join(str(p.get("reason", "")) for p in parts)
    return "; ".join(f"{p['operator']} {p['threshold']} ({p['share']:.0%})" for p in parts)


def _group(group: str, row: dict[str, Any]) -> str:
    cells = "".join(
        f"<td>{_fmt(row[m])} <small>[{_fmt(row['interval'][m][0])}, {_fmt(row['interval'][m][1])}]</small></td>"
        for m in GROUP_METRICS
    )
    css, mark = (" class='small'", " <small>too small to judge</small>") if row["small"] else ("", "")
    return f"<tr{css}><td>{html.escape(group)}{mark}</td><td>{int(row['count'])}</td>{cells}</tr>"


SIDE = ("selection_rate", "tpr", "fpr")  # the rates the disparities are made of


def _production(production: dict[str, Any]) -> str:
    """What production traffic was judged, or why none was; its findings are information, not the verdict."""
    if not production["rows"]:
        return f"<h2>Production traffic</h2><p>{html.escape(production['note'])}.</p>"
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in production["findings"]) or "<li>none</li>"
    unlogged = production.get("not_logged") or []
    missing = (
        f" Not in the inference log (no model input): {html.escape(', '.join(unlogged))}." if unlogged else ""
    )
    return (
        f"<h2>Production traffic</h2><p>{production['rows']} labelled rows of the version's logged answers "
        f"({html.escape(production['source'])}), judged as the holdout is, beside it in each section below. "
        "For information: the verdict is the holdout's, a random sample of the version's own data, where the "
        f"labels that arrive first are a selection of the traffic.{missing}</p><p>Beyond or straddling a "
        f"threshold in production:</p><ul>{findings}</ul>"
    )


def _side_by_side(name: str, holdout: dict[str, Any], production: dict[str, Any]) -> str:
    """Per group, the holdout's and production's rows and rates with intervals; then the disparities."""
    live = (production.get("features") or {}).get(name)
    if live is None:
        return ""
    head = "".join(f"<th>holdout {m}</th><th>production {m}</th>" for m in ("rows", *SIDE))
    rows = ""
    for group in sorted({*holdout["groups"], *live["groups"]}):
        mine, theirs = holdout["groups"].get(group), live["groups"].get(group)
        cells = f"<td>{_count(mine)}</td><td>{_count(theirs)}</td>" + "".join(
            f"<td>{_rate(mine, m)}</td><td>{_rate(theirs, m)}</td>" for m in SIDE
        )
        rows += f"<tr><td>{html.escape(group)}</td>{cells}</tr>"
    spans = "".join(
        f"<tr><td>{k}</td><td>{_fmt(v)} {_span(holdout['disparity_intervals'].get(k))}</td>"
        f"<td>{_fmt(live['disparities'].get(k))} {_span(live['disparity_intervals'].get(k))}</td></tr>"
        for k, v in holdout["disparities"].items()
    )
    return (
        f"<h3>{html.escape(name)}: holdout and production</h3><table class='side'><tr><th>group</th>{head}</tr>"
        f"{rows}</table><table class='side'><tr><th>disparity</th><th>holdout</th><th>production</th></tr>"
        f"{spans}</table>"
    )


def _count(row: dict[str, Any] | None) -> str:
    if row is None:
        return "0"
    return f"{int(row['count'])}" + (" <small>too small to judge</small>" if row["small"] else "")


def _rate(row: dict[str, Any] | None, metric: str) -> str:
    if row is None:
        return "n/a"
    low, high = row["interval"][metric]
    return f"{_fmt(row[metric])} <small>[{_fmt(low)}, {_fmt(high)}]</small>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'>"


def _span(interval: list[float | None] | None) -> str:
    return "n/a" if not interval or None in interval else f"[{_fmt(interval[0])}, {_fmt(interval[1])}]"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
