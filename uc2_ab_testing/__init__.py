"""Use case 2: A/B testing of model versions: the challenger beside the champion on real requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.workspace import Workspace

USE_CASE = "uc2"
AFTER = ("uc1",)  # the challenger of the last run, tested before a retrain makes a new one
RETRY_HELP = "test a candidate an experiment rejected again (ab_testing.retry_rejected)"
OPTIONS = [("--retry-rejected", "ab_testing.retry_rejected=true", RETRY_HELP)]  # run_pipeline.py's flags


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out, refreshed

    canary, done = out(ws, "uc2_01_deploy_canary_kserve"), out(ws, "uc2_03_monitor_experiment")
    if canary["_status"] == "skipped":
        return f"no challenger ({canary.get('reason')})", ""
    verb = {"promote": "promoted", "rollback": "rolled back", "inconclusive": "inconclusive on"}.get(
        str(done.get("decision")), done.get("decision")
    )
    refresh = refreshed(ws, "uc2_04_refresh_scores_mlflow")
    return f"{verb} v{done.get('candidate')} against v{done.get('stable')}{refresh}", str(
        done.get("report", "")
    )
