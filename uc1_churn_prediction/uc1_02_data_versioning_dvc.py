"""Step 02: version the extract in the workspace's DVC data registry: data/<table>.parquet, a git commit naming
rows, source and hash, a tag data-vN, and a push to the DVC remote. Unchanged data makes no new version.

  --list-versions       print every version (tag and message)
  --export data-v1      write that version to <workspace>/exports/<table>_data-v1.parquet"""

from __future__ import annotations

import logging
from pathlib import Path

from common.cli import base_parser, execute, run_step
from common.data.object_store import make_store
from common.data.registry import DataRegistry
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

STEP = Path(__file__).stem
EXTRACT_STEP = "uc1_01_data_ingestion_postgres"
log = logging.getLogger(f"uc1_churn_prediction.{STEP}")


def open_registry(cfg: Settings, ws: Workspace) -> DataRegistry:
    return DataRegistry(ws.root / "data-registry", cfg.dvc, ws.dir("dvc-remote"))


def data_path(cfg: Settings) -> str:
    """The versioned file, relative to the registry."""
    return f"data/{cfg.dataset.table}.parquet"


def run(cfg: Settings, ws: Workspace) -> StepResult:
    extract = ws.require(EXTRACT_STEP, f"run {EXTRACT_STEP}.py first")
    registry = open_registry(cfg, ws)
    rel = data_path(cfg)
    rows, digest, source = extract.metrics["rows"], extract.outputs["sha256"], extract.outputs["source"]
    with ws.scratch(f"{cfg.dataset.table}.parquet") as tmp:
        make_store(cfg.object_store, ws).get_file(extract.outputs["key"], tmp)
        version = registry.commit(tmp, rel, f"{rel}: {rows} rows from {source}, sha256 {digest}")
    uri = f"dvc://{registry.root}/{rel}@{version.tag}"
    return StepResult(
        step=STEP,
        outputs={
            "tag": version.tag,
            "commit": version.commit,
            "md5": version.md5,
            "created": version.created,
            "registry": str(registry.root),
            "path": str(registry.root / rel),
            "rel_path": rel,
            "remote": cfg.dvc.remote_url or str(registry.default_remote),
        },
        metrics={"rows": rows, "versions": len(registry.versions())},
        datasets_read=[extract.outputs["uri"]],
        datasets_written=[uri],
        facts={uri: {"version": f"{version.tag} (md5 {version.md5})"}},  # lineage: the tag and DVC's md5
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or STEP)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list-versions", action="store_true", help="list the data versions and exit")
    action.add_argument("--export", metavar="TAG", help="write version TAG to <workspace>/exports/")
    args = parser.parse_args(argv)

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
