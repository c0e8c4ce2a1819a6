"""UC6 GitOps deployment: the champion promoted through the deployment repo (01: a commit with trailers, pushed),
then the environment synced to it (02: Argo CD's API, or the local model server following the repo)."""

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
