"""UC5: fairness analysis and the model card."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.settings import Settings

USE_CASE = "uc5"


def check(cfg: Settings) -> None:
    """What this use case needs of the config beyond its schema: fairness.sensitive_features. run_all runs every use
    case's check before the first starts, and the pipeline its own. Raises ConfigError naming the key."""
    from common.fairness.analysis import check_features

    check_features(cfg)
