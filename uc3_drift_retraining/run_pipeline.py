"""UC3 drift detection and retraining: compare the champion's training data with what the server logged (01),
and when that calls for it, retrain a challenger on the current data (02); when the champion or the data
changed, score every customer of the newest data by the champion (03). Hourly from cron; exit 0 when there
is no drift, too little data or a cool-down."""

from __future__ import annotations

from pathlib import Path

from common.pipeline import Outcome, pipeline_main, run_use_case
from common.settings import Settings
from common.workspace import Workspace

FOLDER = Path(__file__).resolve().parent  # its steps are found there (common.usecases)


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_use_case(FOLDER, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    return pipeline_main(FOLDER, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
