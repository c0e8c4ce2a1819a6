"""python -m common.report [--open]: rebuild <workspace>/reports/index.html from what the workspace holds."""

from __future__ import annotations

import sys
from typing import Any

from common.cli import base_parser, execute
from common.settings import Settings
from common.workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "report")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    args = parser.parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        from common.history import PAGE_ROWS, read
        from common.report.page import build

        page = build(ws, read(ws, PAGE_ROWS))
        if args.open:
            import webbrowser

            webbrowser.open(page.as_uri())
        return {"report": str(page), "url": page.as_uri()}

    return execute("report", None, args, body)


if __name__ == "__main__":
    sys.exit(main())
