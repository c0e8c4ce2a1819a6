"""The reports' pictures, drawn by matplotlib: each canary chart's SVG read back from a rendered page (axis
labels, both versions, the labelled limit), and the lineage picture's layered layout inside a 1,200 px window."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from common.experiment.ab_report import render as canary_page
from common.lineage import layout, picture
from tests.report_samples import LIMITS, canary_report, pipeline_graph, wide_graph

SVG = "{http://www.w3.org/2000/svg}"
STABLE = {"error_rate": [0.0, 0.002, 0.001], "latency_p95_ms": [42.0, 47.5, None]}
CANDIDATE = {
    "error_rate": [0.0, 0.004, 0.003],  # equal to the stable version's at the first look
    "latency_p95_ms": [42.0, 61.0, 58.0],
    "positive_rate_gap": [None, 0.03, -0.02],
    "roc_auc_drop": [None, 0.004, 0.002],
}


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(found) for found in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


def texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()).strip() for t in svg.iter(f"{SVG}text")]


def group(svg: ET.Element, gid: str) -> ET.Element:
    found = [g for g in svg.iter(f"{SVG}g") if g.get("id") == gid]
    assert len(found) == 1, f"no single group {gid}"
    return found[0]


def line_style(line: ET.Element) -> str:
    """The style of a line's own path (its markers are <use> elements beside it)."""
    return line.find(f"{SVG}path").get("style", "")


@pytest.fixture(scope="module")
def charts() -> dict[str, ET.Element]:
    page = canary_page(canary_report(STABLE, CANDIDATE))
    named = re.sub(r'xmlns(:\w+)?="http[^"]*"', "", page)  # XML namespaces are names, never fetched
    assert "<script" not in page and "src=" not in page and "http" not in named  # nothing fetched
    drawn = svgs(page)
    by_title = {next(t for t in texts(svg) if t in CANDIDATE): svg for svg in drawn}  # each chart's title
    assert len(drawn) == len(by_title) == len(CANDIDATE)  # one chart per objective
    return by_title


@pytest.mark.parametrize(
    ("objective", "ylabel", "unit"),
    [
        ("error_rate", "error rate", ""),
        ("latency_p95_ms", "latency p95 (ms)", " ms"),
        ("positive_rate_gap", "positive-rate gap", ""),
        ("roc_auc_drop", "ROC AUC drop", ""),
    ],
)
def test_each_chart_has_axes_a_legend_and_its_limit_labelled(
    charts: dict[str, ET.Element], objective: str, ylabel: str, unit: str
) -> None:
    svg = charts[objective]
    found = texts(svg)
    sign = "±" if objective == "positive_rate_gap" else ""
    assert "look" in found and ylabel in found
    assert f"limit {sign}{LIMITS[objective]:g}{unit}" in found
    assert "candidate v2" in found
    assert group(svg, f"{objective}.limit") is not None
    markers = group(svg, f"{objective}.candidate").iter(f"{SVG}use")
    assert len(list(markers)) == sum(
        v is not None for v in CANDIDATE[objective]
    )  # a mark per look with a value


@pytest.mark.parametrize("objective", sorted(STABLE))
def test_both_versions_are_drawn_distinctly_so_both_show_when_equal(
    charts: dict[str, ET.Element], objective: str
) -> None:
    svg = charts[objective]
    assert {"stable v1", "candidate v2"} <= set(texts(svg))
    stable, candidate = group(svg, f"{objective}.stable"), group(svg, f"{objective}.candidate")
    assert len(list(stable.iter(f"{SVG}use"))) == sum(v is not None for v in STABLE[objective])
    assert "stroke-dasharray" in line_style(candidate) and "stroke-dasharray" not in line_style(stable)
    width = [float(re.search(r"stroke-width: ([\d.]+)", line_style(g)).group(1)) for g in (stable, candidate)]
    assert width[0] > width[1]  # the stable line is wider: it shows around the candidate's where they meet
    first = [next(g.iter(f"{SVG}use")).attrib for g in (stable, candidate)]
    same = STABLE[objective][0] == CANDIDATE[objective][0]
    assert same == (
        (first[0]["x"], first[0]["y"]) == (first[1]["x"], first[1]["y"])
    )  # equal: both marks, one place
    assert first[0]["{http://www.w3.org/1999/xlink}href"] != first[1]["{http://www.w3.org/1999/xlink}href"]


def test_a_version_with_no_value_yet_is_still_in_the_legend() -> None:
    report = canary_report({"latency_p95_ms": [None, None]}, {"latency_p95_ms": [30.0, 31.0]})
    (svg,) = svgs(canary_page(report))
    assert "stable v1 (no value yet)" in texts(svg) and "candidate v2" in texts(svg)


def test_the_lineage_picture_keeps_every_node_kind_and_edge_in_layers() -> None:
    graph = pipeline_graph()
    cells, layer = layout.grid(graph), layout.layers(graph)
    assert sorted(cells) == sorted(graph.nodes) and len(set(cells.values())) == len(
        cells
    )  # no box on another
    for node in graph.nodes.values():  # every edge runs down the page
        assert all(cells[d][0] > cells[node.id][0] and layer[d] > layer[node.id] for d in node.out_edges)
    (svg,) = svgs(picture.render(graph, "lineage", None))
    titles = ["".join(t.itertext()) for t in svg.iter(f"{SVG}title")]
    edges = {f"{n.id} → {d}" for n in graph.nodes.values() for d in n.out_edges}
    assert sorted(titles) == sorted([*graph.nodes, *edges])  # each box's and arrow's tooltip names it in full
    assert {graph.nodes[n].kind for n in graph.nodes} <= {t.split(" · ")[0] for t in texts(svg)}


def test_a_wide_layer_wraps_and_a_long_chain_runs_down_inside_1200_px() -> None:
    fan_out, chain = 9, 6
    graph = wide_graph(fan_out, chain)
    cells = layout.grid(graph)
    rows = {r for r, _ in cells.values()}
    assert {c for _, c in cells.values()} == set(range(layout.PER_ROW))
    assert len(rows) == 2 + -(-fan_out // layout.PER_ROW) + 2 * chain  # the files wrap onto 3 rows
    (svg,) = svgs(picture.render(graph, "wide", "job:ns:split"))
    width_px = float(svg.get("width", "0").removesuffix("pt")) * 96 / 72
    assert 0 < width_px <= 1200 - 2 * 16  # inside the window, with the page's margins
    boxes = {
        "".join(g.find(f"{SVG}title").itertext()): g
        for g in svg.iter(f"{SVG}g")
        if g.find(f"{SVG}title") is not None
    }
    framed = {nid for nid, g in boxes.items() if "stroke: #dd0000" in ET.tostring(g, encoding="unicode")}
    assert framed == {"job:ns:split"}  # the node asked about stands out, and only it


def test_an_arrow_that_skips_rows_runs_in_the_gaps_never_across_a_box() -> None:
    graph = wide_graph(9, 2)
    cells = layout.grid(graph)
    boxes = [(*layout.corner(c), layout.WIDTH, layout.HEIGHT) for c in cells.values()]
    skipping = 0
    for k, (a, b) in enumerate((n.id, d) for n in graph.nodes.values() for d in n.out_edges):
        points = layout.route(cells[a], cells[b], k)
        skipping += len(points) > 2
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            for left, top, width, height in boxes:
                across_x = max(x1, x2) > left and min(x1, x2) < left + width
                across_y = max(y1, y2) > top and min(y1, y2) < top + height
                assert not (across_x and across_y), f"{a} -> {b} crosses a box"
    assert skipping >= 5  # the wrapped rows' files and the chain's first job are reached through the gaps
