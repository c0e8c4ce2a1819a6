"""The chain's versioning step (UC1 step 02): version the extract in the workspace's DVC data registry:
data/<table>.parquet, a git commit naming rows, source and hash, a tag data-vN, and a push to the DVC remote.
Unchanged data makes no new version."""

from __future__ import annotations

import logging

from common.chain import EXTRACT, VERSION
from common.chain.records import Extracted, Versioned
from common.data.object_store import make_store
from common.data.registry import data_path, open_registry
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace

STEP = VERSION
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    extract = ws.require(EXTRACT, f"run {EXTRACT}.py first")
    extracted = Extracted.of(extract)
    registry = open_registry(cfg, ws)
    rel = data_path(cfg)
    rows, digest, source = extract.metrics["rows"], extracted.sha256, extracted.source
    with ws.scratch(f"{cfg.dataset.table}.parquet") as tmp:
        make_store(cfg.object_store, ws).get_file(extracted.key, tmp)
        version = registry.commit(tmp, rel, f"{rel}: {rows} rows from {source}, sha256 {digest}")
    uri = f"dvc://{registry.root}/{rel}@{version.tag}"
    return StepResult(
        step=STEP,
        outputs={
            **Versioned(tag=version.tag, path=str(registry.root / rel), md5=version.md5).dump(),
            "commit": version.commit,
            "created": version.created,
            "registry": str(registry.root),
            "rel_path": rel,
            "remote": cfg.dvc.remote_url or str(registry.default_remote),
        },
        metrics={"rows": rows, "versions": len(registry.versions())},
        datasets_read=[extracted.uri],
        datasets_written=[uri],
        facts={uri: {"version": f"{version.tag} (md5 {version.md5})"}},  # lineage: the tag and DVC's md5
    )
