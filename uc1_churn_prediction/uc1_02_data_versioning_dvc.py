"""Step 02: version the extract in the workspace's DVC data registry: data/<table>.parquet, a git commit naming
rows, source and hash, a tag data-vN, and a push to the DVC remote. Unchanged data makes no new version.

  --list-versions       print every version (tag and message)
  --export data-v1      write that version to <workspace>/exports/<table>_data-v1.parquet"""

from __future__ import annotations

from common.chain import VERSION as STEP
from common.chain.version import run
from common.cli import action_parser, execute, run_step
from common.data.registry import data_path, open_registry
from common.settings import Settings
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

ROLE = "version"  # what shared code asks this step for (common.usecases.step_for)

__all__ = ["STEP", "main", "run"]  # run: the shared chain's step (common/chain/version.py), also run by UC3


def main(argv: list[str] | None = None) -> int:
    args = action_parser(
        __doc__ or STEP,
        list_versions="list the data versions and exit",
        export=("TAG", "write version TAG to <workspace>/exports/"),
    ).parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, object]:
        if args.list_versions:
            versions = open_registry(cfg, ws).versions()
            return {
                "step": STEP,
                "status": "ok",
                "versions": [{"tag": t, "message": m} for _, t, m in versions],
            }
        if args.export:
            dest = ws.dir("exports") / f"{cfg.dataset.table}_{args.export}.parquet"
            open_registry(cfg, ws).export(data_path(cfg), args.export, dest)
            return {"step": STEP, "status": "ok", "tag": args.export, "path": str(dest)}
        return run_step(STEP, run, cfg, ws).to_dict()

    return execute(STEP, USE_CASE, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
