"""Use case 1: churn prediction, from the warehouse to a served model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.settings import Settings
    from common.workspace import Workspace

USE_CASE = "uc1"
AFTER = ()


def check(cfg: Settings) -> None:
    """What this use case needs of the config beyond its schema: training.candidates. run_all runs every use
    case's check before the first starts, and the pipeline its own. Raises ConfigError naming the key."""
    from common.model.training import check_candidates

    check_candidates(cfg.training.candidates)


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out, scored

    trained, served = out(ws, "uc1_05_model_training_kubeflow"), out(ws, "uc1_06_model_serving_kserve")
    batch = out(ws, "uc1_07_batch_scoring_mlflow")
    said = (
        f"trained v{trained.get('version')} ({', '.join(trained.get('aliases') or [])})"
        if trained["_status"] == "ok"
        else f"no new training ({trained.get('reason')})"
    )
    scores = scored(batch)
    return f"{said}; served v{served.get('version')}{scores}", str(served.get("endpoint", ""))
