"""Where the inference log goes (common.serving.inference_log): a local folder or the object store's prefix, and
the part of the server's spec that says which."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.serving.inference_log import InferenceLog

PREFIX = "inference-log"


class FolderSink:
    """Files under a local folder: date=YYYY-MM-DD/part-*.parquet, each renamed into place whole."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def write(self, key: str, data: bytes) -> str:
        dest = self.root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")  # hidden: readers skip names starting with "."
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)  # after a failed write: no orphan left behind
        return str(dest)


class StoreSink:
    """Objects under the object store's inference-log/ prefix (S3 or MinIO: a PUT is whole or absent)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def write(self, key: str, data: bytes) -> str:
        return self.store.put_bytes(data, f"{PREFIX}/{key}")


def spec_of(serving: Any, object_store: Any, folder: Path) -> dict[str, Any]:
    """What the server process needs to open the log: the limits and where it goes. No credentials: the server
    reads S3's from its environment, as boto3 does."""
    store = object_store.model_dump(mode="json", exclude={"access_key_id", "secret_access_key"})
    return {
        **serving.inference_log.model_dump(),
        "folder": str(folder),
        "object_store": store if object_store.backend == "s3" else None,
    }


def open_log(spec: dict[str, Any], arrow_schema: Any) -> InferenceLog | None:
    """The running log a server spec asks for, or None when it is off."""
    if not spec.get("enabled"):
        return None
    if spec.get("object_store"):
        from common.data.object_store import S3Store, s3_client
        from common.settings import ObjectStoreCfg

        store_cfg = ObjectStoreCfg.model_validate(spec["object_store"])
        sink: Any = StoreSink(S3Store(s3_client(store_cfg), store_cfg.bucket, store_cfg.prefix))
    else:
        sink = FolderSink(spec["folder"])
    found = InferenceLog(sink, arrow_schema, spec["flush_rows"], spec["flush_s"], spec["max_buffered_rows"])
    found.start()
    return found
