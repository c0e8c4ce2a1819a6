"""UC3: drift detection and retraining."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.settings import Settings
    from common.workspace import Workspace

USE_CASE = "uc3"
AFTER = ("uc2",)  # after UC2 has judged the challenger it had


def check(cfg: Settings) -> None:
    """What this use case needs of the config beyond its schema: training.candidates (its retrain trains
    them). run_all runs every use case's check before the first starts, and the pipeline its own. Raises
    ConfigError naming the key."""
    from common.model.training import check_candidates

    check_candidates(cfg.training.candidates)


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out, refreshed

    detected, retrain = (
        out(ws, "uc3_01_drift_detection_evidently"),
        out(ws, "uc3_02_trigger_retrain_kubeflow"),
    )
    report = str(next(iter((detected.get("html") or {}).values()), detected.get("report", "")))
    if retrain.get("retrained"):
        aliases = ", ".join(retrain.get("aliases") or [])
        refresh = refreshed(ws, "uc3_03_refresh_scores_mlflow")
        return f"drift: retrained v{retrain['version']} ({aliases}){refresh}", report
    if detected.get("decision") == "none":
        return f"no drift (share {detected.get('share', 0):.2f})", report
    return str(retrain.get("reason") or detected.get("decision")), report
