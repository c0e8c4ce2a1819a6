"""UC5: fairness analysis and the model card."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.settings import Settings
    from common.workspace import Workspace

USE_CASE = "uc5"
AFTER = ("uc3",)  # the fairness of the champion of the day, once retraining is done


def check(cfg: Settings) -> None:
    """What this use case needs of the config beyond its schema: fairness.sensitive_features. run_all runs every use
    case's check before the first starts, and the pipeline its own. Raises ConfigError naming the key."""
    from common.fairness.analysis import check_features

    check_features(cfg)


def decide(ws: Workspace) -> tuple[str, str]:
    """What this use case's last run decided, in a line a person reads, and where to look (run_all's summary)."""
    from common.decisions import out

    card, fairness = out(ws, "uc5_02_generate_model_card"), out(ws, "uc5_01_fairness_analysis_fairlearn")
    verdict = fairness.get("verdict") or f"not analysed: {fairness.get('reason')}"
    return f"card written for v{card.get('version')} (fairness {verdict})", str(card.get("html", ""))
