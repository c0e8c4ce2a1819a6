"""Where the lineage picture puts each node and how its arrows run, pure. Layered top to bottom: each node one
layer below the furthest of its origins, a layer's nodes on a grid of PER_ROW columns near their origins' columns
(a wider layer wraps onto more rows), so a long chain runs down the page and the picture stays 1,130 px wide. An
arrow into the next row is straight; one that skips rows runs down the gap beside its target's column, so no box
hides it."""

from __future__ import annotations

from collections import defaultdict

from common.lineage.graph import Graph

# pixels: four boxes a row fill 1,130 px, inside a 1,200 px window with the page's margins
WIDTH, HEIGHT, GAP_X, GAP_Y, MARGIN, PER_ROW = 250, 46, 30, 36, 20, 4

Cell = tuple[int, int]  # row, column
Point = tuple[float, float]  # pixels, y down


def layers(graph: Graph) -> dict[str, int]:
    """Each node's layer: 0 for nodes with no origin, else one past its furthest origin (cycles cut)."""
    layer: dict[str, int] = {}

    def place(nid: str, trail: frozenset[str]) -> int:
        if nid in layer:
            return layer[nid]
        origins = [o for o in graph.nodes[nid].in_edges if o in graph.nodes and o not in trail]
        layer[nid] = 1 + max((place(o, trail | {nid}) for o in origins), default=-1)
        return layer[nid]

    for nid in graph.nodes:
        place(nid, frozenset())
    return layer


def grid(graph: Graph) -> dict[str, Cell]:
    """Each node's row and column: layers in order, each in the order of its origins' columns (fewer crossings),
    cut into rows of PER_ROW."""
    by_layer: dict[int, list[str]] = defaultdict(list)
    for nid, n in layers(graph).items():
        by_layer[n].append(nid)
    cells: dict[str, Cell] = {}

    def wanted(nid: str) -> float | None:  # the mean column of its origins already placed
        above = [cells[o][1] for o in graph.nodes[nid].in_edges if o in cells]
        return sum(above) / len(above) if above else None

    row = 0
    for n in sorted(by_layer):
        want = {nid: wanted(nid) for nid in by_layer[n]}
        ordered = sorted(
            by_layer[n], key=lambda i: (want[i] if want[i] is not None else -1, graph.nodes[i].label)
        )
        for start in range(0, len(ordered), PER_ROW):
            chunk = ordered[start : start + PER_ROW]
            centred = (PER_ROW - len(chunk)) / 2  # nodes with no origin placed sit in the middle
            goals = [centred + i if (w := want[nid]) is None else w for i, nid in enumerate(chunk)]
            cells.update({nid: (row, col) for nid, col in zip(chunk, spread(goals), strict=True)})
            row += 1
    return cells


def spread(goals: list[float]) -> list[int]:
    """Distinct columns, left to right, each as near its goal as the others leave room for."""
    columns: list[int] = []
    for i, goal in enumerate(goals):
        lowest = columns[-1] + 1 if columns else 0
        columns.append(max(lowest, min(round(goal), PER_ROW - len(goals) + i)))
    return columns


def corner(cell: Cell) -> Point:
    """A box's top-left corner."""
    return MARGIN + cell[1] * (WIDTH + GAP_X), MARGIN + cell[0] * (HEIGHT + GAP_Y)


def route(a: Cell, b: Cell, k: int) -> list[Point]:
    """The k-th arrow's points from a's box to b's: straight into the next row; otherwise down the channel under
    a's row, along the gap right of b's column, and in from above (k nudges arrows that share a gap apart)."""
    (ax, ay), (bx, by) = corner(a), corner(b)
    start, end = (ax + WIDTH / 2, ay + HEIGHT), (bx + WIDTH / 2, by)
    if b[0] == a[0] + 1:
        return [start, end]
    nudge = (k % 3 - 1) * 4
    lane, below, above = (
        bx + WIDTH + GAP_X / 2 + nudge,
        ay + HEIGHT + GAP_Y / 2 + nudge,
        by - GAP_Y / 2 + nudge,
    )
    return [start, (start[0], below), (lane, below), (lane, above), (end[0], above), end]


def extent(cells: dict[str, Cell]) -> tuple[float, float, float, float]:
    """The picture's left, right, bottom and top in pixels: the columns used, with room for the gaps' arrows."""
    rows = max((r for r, _ in cells.values()), default=0) + 1
    first, last = (
        min((c for _, c in cells.values()), default=0),
        max((c for _, c in cells.values()), default=0),
    )
    left, right = corner((0, first))[0] - MARGIN, corner((0, last))[0] + WIDTH + MARGIN
    return left, right, 2 * MARGIN + rows * (HEIGHT + GAP_Y) - GAP_Y, 0.0
