"""The canary report's charts: each objective per look, for both versions against its labelled limit, drawn by
matplotlib as inline SVG (common.report.svg)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from common.report.svg import figure, to_svg

AXES = {  # objective -> its y axis, the unit after the limit's value, and what the value is
    "error_rate": ("error rate", "", "errors / requests"),
    "latency_p95_ms": ("latency p95 (ms)", " ms", "95th percentile"),
    "latency_p99_ms": ("latency p99 (ms)", " ms", "99th percentile"),
    "positive_rate_gap": ("positive-rate gap", "", "candidate − stable"),
    "roc_auc_drop": ("ROC AUC drop", "", "stable − candidate"),
}
BANDS = {"positive_rate_gap"}  # a limit on either side of zero
# stable: a wide pale line with large dots, drawn first; candidate: dashed with crosses, on top. Where the two are
# equal, both stay visible.
STYLES: dict[str, dict[str, Any]] = {
    "stable": {
        "color": "#1f77b4",
        "linestyle": "-",
        "linewidth": 4,
        "alpha": 0.55,
        "marker": "o",
        "markersize": 10,
    },
    "candidate": {"color": "#d62728", "linestyle": "--", "linewidth": 1.5, "marker": "x", "markersize": 8},
}
LIMIT_STYLE: dict[str, Any] = {"color": "#555", "linestyle": ":", "linewidth": 1.2}

Points = dict[str, list[tuple[int, float]]]  # version -> (look, value), looks with no value left out


def series(report: dict[str, Any]) -> tuple[dict[str, Points], dict[str, float]]:
    """Each objective's points per version (every version that has a result, even with no value) and its limit."""
    points: dict[str, Points] = defaultdict(dict)
    limits: dict[str, float] = {}
    for it in report["iterations"]:
        for r in it["results"]:
            limits[r["objective"]] = float(r["limit"])
            found = points[r["objective"]].setdefault(r["version"], [])
            if r["value"] is not None:
                found.append((int(it["iteration"]), float(r["value"])))
    return points, limits


def charts(report: dict[str, Any]) -> list[str]:
    """One <svg> per objective, in the order the results name them."""
    points, limits = series(report)
    names = {"stable": f"stable v{report['stable']}", "candidate": f"candidate v{report['candidate']}"}
    looks = max((int(it["iteration"]) for it in report["iterations"]), default=1)
    return [chart(name, points[name], limits[name], looks, names) for name in limits]


def chart(objective: str, lines: Points, limit: float, looks: int, names: dict[str, str]) -> str:
    """The objective's values at each look, per version, and its limit line, labelled in the legend."""
    from matplotlib.ticker import MaxNLocator

    fig = figure(5.2, 3.0)
    ax = fig.subplots()
    ylabel, unit, what = AXES.get(objective, (objective, "", ""))
    for version in sorted(lines, key=lambda v: v != "stable"):  # stable first, so beneath
        found = lines[version]
        label = names.get(version, version) + ("" if found else " (no value yet)")
        ax.plot(
            [x for x, _ in found],
            [y for _, y in found],
            label=label,
            gid=f"{objective}.{version}",
            **STYLES.get(version, {}),
        )
    band = objective in BANDS
    ax.axhline(
        limit, label=f"limit {'±' if band else ''}{limit:g}{unit}", gid=f"{objective}.limit", **LIMIT_STYLE
    )
    if band:
        ax.axhline(-limit, **LIMIT_STYLE)
    ax.axhline(0, color="#ccc", linewidth=0.8, zorder=0)  # zero in view: a rate is read against it
    ax.set(xlabel="look", ylabel=ylabel, xlim=(0.5, looks + 0.5))
    ax.set_title(objective, loc="left")
    ax.set_title(what, loc="right", fontsize=8, color="#555")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return to_svg(fig)
