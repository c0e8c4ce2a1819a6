"""UC6: GitOps deployment."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.workspace import Workspace

USE_CASE = "uc6"
AFTER = ("uc4",)  # the champion deployed through git, last


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out
    from common.workspace import file_path

    synced, promoted = out(ws, "uc6_02_sync_argocd"), out(ws, "uc6_01_promote_model_git")
    if synced["_status"] == "skipped":
        return f"pushed v{promoted.get('version')}, not synced ({synced.get('reason')})", str(
            promoted.get("url")
        )
    url = str(synced.get("url", ""))
    look = f"git --git-dir {file_path(url)} log" if url.startswith("file://") else url
    what = f"deployed v{synced.get('version')} to {synced.get('environment')} through git"
    at = str(synced.get("revision", ""))[:12]
    return f"{what} at {at} ({synced.get('sync')}, {synced.get('health')})", look
