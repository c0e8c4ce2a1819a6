"""UC4 data lineage: deliver the lineage spool (01), then answer the standing questions (02): the impact of the
warehouse table and the provenance of the served model. Each step with transient-only retries."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc4_data_lineage import USE_CASE

STEPS = [
    "uc4_01_emit_lineage_openlineage",
    "uc4_02_query_lineage_marquez",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc4_data_lineage", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or USE_CASE).parse_args(argv)
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc4_data_lineage"))


if __name__ == "__main__":
    raise SystemExit(main())
