"""A picture of a lineage graph that a person opens offline: one self-contained HTML page (inline SVG, inline CSS,
no script, no CDN). Layered left to right: each node one column after the furthest of its origins."""

from __future__ import annotations

import html
from collections import defaultdict

from common.lineage.graph import Graph, Node

COLORS = {
    "JOB": "#e8e8e8",
    "TABLE": "#cfe3ff",
    "FILE": "#fff2c6",
    "FEATURE_VIEW": "#d9f2d9",
    "MODEL": "#f7d6e6",
    "ENDPOINT": "#e2d9f7",
}
WIDTH, HEIGHT, GAP_X, GAP_Y, MARGIN = 220, 46, 60, 18, 20
MAX_LABEL = 32


def columns(graph: Graph) -> dict[str, int]:
    """Each node's column: 0 for nodes with no origin, else one past its furthest origin (cycles cut)."""
    column: dict[str, int] = {}

    def place(nid: str, trail: frozenset[str]) -> int:
        if nid in column:
            return column[nid]
        origins = [o for o in graph.nodes[nid].in_edges if o in graph.nodes and o not in trail]
        column[nid] = 1 + max((place(o, trail | {nid}) for o in origins), default=-1)
        return column[nid]

    for nid in graph.nodes:
        place(nid, frozenset())
    return column


def render(graph: Graph, title: str, focus: str | None = None) -> str:
    """The page: the graph drawn, and every node listed with its full name below it."""
    column = columns(graph)
    rows: dict[int, list[str]] = defaultdict(list)
    for nid in sorted(graph.nodes, key=lambda i: (column[i], graph.nodes[i].label)):
        rows[column[nid]].append(nid)
    where = {
        nid: (MARGIN + c * (WIDTH + GAP_X), MARGIN + r * (HEIGHT + GAP_Y))
        for c, ids in rows.items()
        for r, nid in enumerate(ids)
    }
    width = MARGIN * 2 + (max(rows, default=0) + 1) * (WIDTH + GAP_X)
    height = MARGIN * 2 + (max((len(v) for v in rows.values()), default=1) + 1) * (
        HEIGHT + GAP_Y
    )  # room to dip
    edges = [_edge(where[n.id], where[d]) for n in graph.nodes.values() for d in n.out_edges if d in where]
    boxes = [_box(graph.nodes[nid], *where[nid], nid == focus) for nid in where]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
        + "".join(edges)
        + "".join(boxes)
        + "</svg>"
    )
    listing = "".join(
        f"<tr><td>{html.escape(graph.nodes[n].kind)}</td><td>{html.escape(n)}</td></tr>" for n in where
    )
    legend = "".join(
        f'<span class="key" style="background:{c}">{html.escape(k)}</span>' for k, c in COLORS.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font:14px sans-serif;margin:16px} .key{padding:2px 8px;margin-right:6px;border:1px solid #999}"
        "table{border-collapse:collapse;margin-top:16px} td{border:1px solid #ccc;padding:2px 8px}"
        f"</style></head><body><h1>{html.escape(title)}</h1><p>{legend}</p>{svg}"
        f"<table><tr><th>type</th><th>node</th></tr>{listing}</table></body></html>\n"
    )


def _box(node: Node, x: int, y: int, focus: bool) -> str:
    """Kind and version on the first line, the name's last part on the second: what tells boxes apart."""
    head = node.kind + (f" · {node.version}" if node.version else "")
    name = node.label.rsplit("/", 1)[-1] or node.label
    stroke = "#d00" if focus else "#555"
    return (
        f"<g><title>{html.escape(node.id)}</title>"
        f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="{12 if node.type == "JOB" else 3}" '
        f'fill="{COLORS.get(node.kind, "#fff")}" stroke="{stroke}" stroke-width="{3 if focus else 1}"/>'
        f'<text x="{x + 8}" y="{y + 18}" font-size="11" fill="#555">{html.escape(_cut(head))}</text>'
        f'<text x="{x + 8}" y="{y + 36}" font-size="13">{html.escape(_cut(name))}</text></g>'
    )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _edge(a: tuple[int, int], b: tuple[int, int]) -> str:
    """A curve from a box's right side to the next one's left; one that skips columns dips below the boxes it
    passes, so it is not hidden behind them."""
    x1, y1, x2, y2 = a[0] + WIDTH, a[1] + HEIGHT // 2, b[0], b[1] + HEIGHT // 2
    dip = HEIGHT + GAP_Y if x2 - x1 > GAP_X else 0
    return (
        f'<path d="M{x1},{y1} C{x1 + GAP_X},{y1 + dip} {x2 - GAP_X},{y2 + dip} {x2},{y2}" fill="none" '
        'stroke="#555" marker-end="url(#arrow)"/>'
    )
