"""Matplotlib figures as SVG elements to inline in an offline HTML page: text stays text (svg.fonttype none, so a
browser draws it and a test can read it), no metadata block (its namespace URLs and date), no XML prolog."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# pages put their charts in a <div class="charts">: they wrap, and shrink rather than scroll sideways
CSS = ".charts{display:flex;flex-wrap:wrap;gap:8px} .charts svg{max-width:100%;height:auto}"


def figure(
    width_in: float, height_in: float, layout: Literal["constrained"] | None = "constrained"
) -> Figure:
    """A figure outside pyplot (no global state, no backend to switch); constrained layout keeps labels uncut."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout=layout)


def to_svg(fig: Figure) -> str:
    """The figure as one <svg> element."""
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "font.family": "sans-serif"}):
        fig.savefig(out, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = out.getvalue()
    return text[text.index("<svg") :]
