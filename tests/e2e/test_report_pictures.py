"""The canary report and the lineage picture, built from small inputs, opened in headless Chromium in a 1,200 px
window: a screenshot that is not blank, and no horizontal scroll. The width is measured by a copy of the page
with a probe script added (the reports themselves carry none); a page known to be too wide proves the probe."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from common.experiment.ab_report import render as canary_page
from common.lineage import picture
from tests.conftest import require_binary
from tests.report_samples import canary_report, pipeline_graph, wide_graph

WINDOW = 1200
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WINDOW},900"]
PROBE = (
    "<script>addEventListener('load',()=>{const e=document.documentElement;"
    "document.body.dataset.width=e.scrollWidth+' '+e.clientWidth})</script>"
)


def _canary() -> str:
    stable = {"error_rate": [0.0, 0.001, 0.002], "latency_p95_ms": [40.0, 52.0, 49.0]}
    candidate = {**{k: [*v] for k, v in stable.items()}, "positive_rate_gap": [None, 0.02, 0.01]}
    return canary_page(canary_report(stable, candidate))


PAGES: dict[str, Callable[[], str]] = {
    "canary": _canary,
    "lineage": lambda: picture.render(pipeline_graph(), "impact: customers", None),
    "lineage_wide": lambda: picture.render(
        wide_graph(fan_out=9, chain=8), "impact: customers", "job:ns:split"
    ),
}


def _widths(browser: str, page: Path) -> tuple[int, int]:
    """The document's scroll width and the window's client width, as the probe found them."""
    probed = page.with_name(f"probed_{page.name}")
    probed.write_text(page.read_text().replace("</body>", f"{PROBE}</body>"))
    dom = subprocess.run(
        [browser, *FLAGS, "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    scroll, client = dom.split('data-width="', 1)[1].split('"', 1)[0].split()
    return int(scroll), int(client)


@pytest.fixture(scope="module")
def browser() -> str:
    return require_binary("chromium", "chromium")


def test_the_probe_sees_a_page_too_wide(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text(f"<!doctype html><html><body><div style='width:{WINDOW + 300}px'>x</div></body></html>")
    scroll, client = _widths(browser, page)
    assert scroll > WINDOW and client <= WINDOW


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_report_fits_a_1200_px_window_in_headless_chromium(
    browser: str, tmp_path: Path, name: str
) -> None:
    import matplotlib.image

    page, shot = tmp_path / f"{name}.html", tmp_path / f"{name}.png"
    page.write_text(PAGES[name]())
    assert "<script" not in page.read_text() and "src=" not in page.read_text()  # opens offline
    scroll, client = _widths(browser, page)
    assert scroll <= client <= WINDOW, f"{name}: {scroll} px wide in a {client} px window"
    subprocess.run(
        [browser, *FLAGS, "--hide-scrollbars", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        check=True,
        timeout=120,
    )
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[1] == WINDOW and pixels.std() > 0.05  # charts and boxes drawn, not a blank page
