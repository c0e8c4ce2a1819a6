"""A picture of a lineage graph that a person opens offline: one self-contained HTML page (an inline SVG drawn by
matplotlib, inline CSS, no script, no CDN), laid out by common.lineage.layout: layered top to bottom, inside a
1,200 px window."""

from __future__ import annotations

import html
from typing import Any

from common.lineage.graph import Graph, Node
from common.lineage.layout import HEIGHT, WIDTH, Cell, corner, extent, grid, layers, route
from common.report.svg import CSS, figure, to_svg

__all__ = ["layers", "render"]

COLORS = {
    "JOB": "#e8e8e8",
    "TABLE": "#cfe3ff",
    "FILE": "#fff2c6",
    "FEATURE_VIEW": "#d9f2d9",
    "MODEL": "#f7d6e6",
    "ENDPOINT": "#e2d9f7",
}
FOCUS = "#dd0000"
PX_PER_INCH = 96  # CSS pixels: the figure's inches become these in a browser
MAX_LABEL = 36


def render(graph: Graph, title: str, focus: str | None = None) -> str:
    """The page: the graph drawn, and every node listed with its full name below it."""
    cells = grid(graph)
    listing = "".join(
        f"<tr><td>{html.escape(graph.nodes[n].kind)}</td><td>{html.escape(n)}</td></tr>"
        for n in sorted(cells, key=lambda n: cells[n])
    )
    legend = "".join(
        f'<span class="key" style="background:{c}">{html.escape(k)}</span>' for k, c in COLORS.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font:14px sans-serif;margin:16px} .key{padding:2px 8px;margin-right:6px;border:1px solid #999}"
        "table{border-collapse:collapse;margin-top:16px} td{border:1px solid #ccc;padding:2px 8px;"
        f"overflow-wrap:anywhere}} {CSS}</style></head><body><h1>{html.escape(title)}</h1><p>{legend}</p>"
        f"<div class='charts'>{draw(graph, cells, focus)}</div>"
        f"<table><tr><th>type</th><th>node</th></tr>{listing}</table></body></html>\n"
    )


def draw(graph: Graph, cells: dict[str, Cell], focus: str | None) -> str:
    """The boxes and arrows as one <svg>; a box's <title> (its tooltip) is its node's full id, an arrow's its
    two ends'."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    left, right, bottom, top = extent(cells)
    fig = figure((right - left) / PX_PER_INCH, (bottom - top) / PX_PER_INCH, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(left, right), ylim=(bottom, top))  # pixels, y down as on the page
    ax.axis("off")
    edges = [(n.id, d) for n in graph.nodes.values() for d in n.out_edges if n.id in cells and d in cells]
    for k, (a, b) in enumerate(edges):
        arrow = FancyArrowPatch(path=Path(route(cells[a], cells[b], k)), arrowstyle="-|>", mutation_scale=12)
        arrow.set(color="#555", linewidth=0.9, gid=f"lineage-edge-{k}", zorder=1)
        ax.add_patch(arrow)
    for i, nid in enumerate(cells):
        _box(ax, graph.nodes[nid], corner(cells[nid]), nid == focus, f"lineage-node-{i}")
    svg = to_svg(fig)
    # matplotlib writes a gid as its group's id: the tooltip (the full id) goes inside
    tips = {f"lineage-node-{i}": nid for i, nid in enumerate(cells)}
    tips.update({f"lineage-edge-{k}": f"{a} → {b}" for k, (a, b) in enumerate(edges)})
    for gid, tip in tips.items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{html.escape(tip)}</title>', 1)
    return svg


def _box(ax: Any, node: Node, at: tuple[float, float], focus: bool, gid: str) -> None:
    """Kind and version on the first line, the name's last part on the second: what tells boxes apart."""
    from matplotlib.patches import FancyBboxPatch

    x, y = at
    head = node.kind + (f" · {node.version}" if node.version else "")
    name = node.label.rsplit("/", 1)[-1] or node.label
    rounding = 12 if node.type == "JOB" else 3
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            WIDTH,
            HEIGHT,
            boxstyle=f"round,pad=0,rounding_size={rounding}",
            gid=gid,
            zorder=2,
            facecolor=COLORS.get(node.kind, "#fff"),
            edgecolor=FOCUS if focus else "#555",
            linewidth=2.5 if focus else 0.8,
        )
    )
    ax.text(x + 8, y + 17, _cut(head), fontsize=8, color="#555", zorder=3)
    ax.text(x + 8, y + 36, _cut(name), fontsize=9.5, zorder=3)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
