"""The canary experiment's report as one self-contained HTML page (inline SVG, no script, no CDN): the decision
and its reasons, then each objective per iteration for both versions against its limit."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

W, H, PAD = 420, 140, 30
COLORS = {"stable": "#1f77b4", "candidate": "#d62728"}


def render(report: dict[str, Any]) -> str:
    series: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    limits: dict[str, float] = {}
    for it in report["iterations"]:
        for r in it["results"]:
            limits[r["objective"]] = r["limit"]
            if r["value"] is not None:
                series[r["objective"]][r["version"]].append((it["iteration"], float(r["value"])))
    charts = "".join(_chart(name, series[name], limits[name], len(report["iterations"])) for name in limits)
    reasons = (
        "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>every objective met</li>"
    )
    rows = "".join(
        f"<tr><td>{r['version']}</td><td>{r['objective']}</td><td>{_fmt(r['value'])}</td><td>{r['limit']}</td>"
        f"<td class='{r['status']}'>{r['status']}</td><td>{html.escape(r['detail'])}</td></tr>"
        for r in report["objectives"]
    )
    title = f"Experiment {report['experiment']}: {report['decision']}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font:14px sans-serif;margin:16px} td,th{border:1px solid #ccc;padding:2px 8px}"
        "table{border-collapse:collapse} .pass{background:#d9f2d9} .fail{background:#f7d6d6}"
        ".insufficient{background:#eee} svg{margin:8px;border:1px solid #ddd}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>version {report['candidate']} (candidate) against "
        f"{report['stable']} (stable), {html.escape(str(report.get('mode', 'split')))} mode</p><ul>{reasons}</ul>"
        f"{_plan(report)}"
        "<table><tr><th>version</th><th>objective</th><th>value</th><th>limit</th><th>status</th><th></th></tr>"
        f"{rows}</table>{_looks(report)}<div>{charts}</div></body></html>\n"
    )


def _chart(name: str, lines: dict[str, list[tuple[int, float]]], limit: float, n: int) -> str:
    values = [*(v for points in lines.values() for _, v in points), limit]
    low, high = min([*values, 0.0]), max(values) or 1.0
    span = (high - low) or 1.0

    def xy(i: float, v: float) -> str:
        x = PAD + (i - 1) * (W - 2 * PAD) / max(1, n - 1)
        return f"{x:.1f},{H - PAD - (v - low) * (H - 2 * PAD) / span:.1f}"

    paths = "".join(
        f'<polyline fill="none" stroke="{COLORS.get(v, "#333")}" stroke-width="2" '
        f'points="{" ".join(xy(i, val) for i, val in points)}"><title>{v}</title></polyline>'
        for v, points in lines.items()
        if points
    )
    limit_line = (
        f'<polyline fill="none" stroke="#999" stroke-dasharray="4" points="{xy(1, limit)} {xy(n, limit)}"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">'
        f'<text x="{PAD}" y="18" font-size="13">{html.escape(name)} (limit {limit:g}; '
        "stable blue, candidate red)</text>"
        f"{limit_line}{paths}</svg>"
    )


def _plan(report: dict[str, Any]) -> str:
    """The plan step 02 made, and what the fair comparison set left out."""
    parts = []
    if report.get("plan"):
        parts.append(f"<p>Plan: {html.escape(report['plan']['said'])}</p>")
    fair = report.get("fair") or {}
    if fair.get("notes"):
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in fair["notes"])
        left = f"{fair.get('customers', 'n/a')} fair customers; left out, as trained on:"
        parts.append(f"<p>Fair comparison set: {left}</p><ul>{notes}</ul>")
    return "".join(parts)


def _looks(report: dict[str, Any]) -> str:
    """The quality claim at each look: the estimate, each claim's evidence against the boundary, and the
    fair labelled customers still needed at the configured power."""
    rows = []
    for it in report["iterations"]:
        found = next((r for r in it["results"] if r["objective"] == "roc_auc_drop"), None)
        seen = (found or {}).get("evidence")
        if found is None or not seen:
            detail = html.escape((found or {}).get("detail", ""))
            rows.append(f"<tr><td>{it['iteration']}</td><td colspan='6'>{detail}</td></tr>")
            continue
        worse, within = seen["worse"], seen["within"]
        rows.append(
            f"<tr><td>{it['iteration']}</td><td>{seen['rows']}</td><td>{_fmt(found['value'])} "
            f"± {_fmt(worse['se'])}</td><td>{worse['log_ratio']:.2f}</td><td>{within['log_ratio']:.2f}</td>"
            f"<td>{worse['boundary']:.2f}</td><td>{max(seen['rows_needed'] - seen['rows'], 0)}</td></tr>"
        )
    if not rows:
        return ""
    head = (
        "<tr><th>look</th><th>fair labelled</th><th>AUC drop ± se</th><th>log evidence: worse</th>"
        "<th>log evidence: within</th><th>boundary</th><th>more needed</th></tr>"
    )
    return f"<h2>The quality claim at each look (always-valid)</h2><table>{head}{''.join(rows)}</table>"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
