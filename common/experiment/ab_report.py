"""The canary experiment's report as one self-contained HTML page (inline SVG, no script, no CDN): the decision
and its reasons, then each objective per look for both versions against its limit (common.experiment.ab_charts)."""

from __future__ import annotations

import html
from typing import Any

from common.experiment.ab_charts import charts
from common.report.svg import CSS


def render(report: dict[str, Any]) -> str:
    """The page of a report as UC2's experiment step records it (iterations -> results)."""
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
        f".insufficient{{background:#eee}} td{{overflow-wrap:anywhere}} {CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>version {report['candidate']} (candidate) against "
        f"{report['stable']} (stable), {html.escape(str(report.get('mode', 'split')))} mode</p><ul>{reasons}</ul>"
        f"{_plan(report)}"
        "<table><tr><th>version</th><th>objective</th><th>value</th><th>limit</th><th>status</th><th></th></tr>"
        f"{rows}</table>{_looks(report)}<h2>Each objective per look</h2>"
        f"<div class='charts'>{''.join(charts(report))}</div></body></html>\n"
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
