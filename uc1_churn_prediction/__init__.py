"""Use case 1: churn prediction, from the warehouse to a served model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.settings import Settings

USE_CASE = "uc1"


def check(cfg: Settings) -> None:
    """What this use case needs of the config beyond its schema: training.candidates. run_all runs every use
    case's check before the first starts, and the pipeline its own. Raises ConfigError naming the key."""
    from common.model.training import check_candidates

    check_candidates(cfg.training.candidates)
