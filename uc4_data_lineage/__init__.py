"""Use case 4: data lineage, from the warehouse table to the model version answering requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.workspace import Workspace

USE_CASE = "uc4"
AFTER = (
    "uc5",
)  # after the use cases whose lineage it answers for (UC5 after UC3, UC3 after UC2, UC2 after UC1)


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out

    answered = out(ws, "uc4_02_query_lineage_marquez")
    pictures = answered.get("pictures") or []
    return f"lineage answered ({answered.get('backend')})", str(pictures[-1] if pictures else "")
