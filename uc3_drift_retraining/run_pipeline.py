"""UC3 drift detection and retraining: compare the champion's training data with what the server logged (01),
and when that calls for it, retrain a challenger on the current data (02); when the champion or the data
changed, score every customer of the newest data by the champion (03). Hourly from cron; exit 0 when there
is no drift, too little data or a cool-down."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc3_drift_retraining import USE_CASE

STEPS = [
    "uc3_01_drift_detection_evidently",
    "uc3_02_trigger_retrain_kubeflow",
    "uc3_03_refresh_scores_mlflow",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc3_drift_retraining", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or USE_CASE).parse_args(argv)
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(
        f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc3_drift_retraining")
    )


if __name__ == "__main__":
    raise SystemExit(main())
