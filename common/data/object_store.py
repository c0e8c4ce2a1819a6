"""Object store: a folder in the workspace (default) or S3/MinIO through boto3. Uploads appear only when whole."""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from common.errors import ServiceUnavailableError
from common.settings import ObjectStoreCfg
from common.workspace import Workspace, atomic_path

log = logging.getLogger(__name__)
T = TypeVar("T")


class ObjectStore(Protocol):
    def uri(self, key: str) -> str: ...
    def put_file(self, src: Path, key: str) -> str: ...
    def put_bytes(self, data: bytes, key: str) -> str: ...
    def get_file(self, key: str, dest: Path) -> Path: ...
    def get_bytes(self, key: str) -> bytes: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """Objects as files under `root`; a put is a copy to a temporary name and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def put_file(self, src: Path, key: str) -> str:
        with atomic_path(self._path(key)) as tmp:
            shutil.copyfile(src, tmp)
        return self.uri(key)

    def put_bytes(self, data: bytes, key: str) -> str:
        with atomic_path(self._path(key)) as tmp:
            tmp.write_bytes(data)
        return self.uri(key)

    def get_file(self, key: str, dest: Path) -> Path:
        with atomic_path(dest) as tmp:
            shutil.copyfile(self._path(key), tmp)
        return dest

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _reaching(method: Callable[..., T]) -> Callable[..., T]:
    """An S3 call whose endpoint cannot be reached raises ServiceUnavailableError naming the bucket and the
    endpoint (transient: retried, then exit 1), not botocore's bare connection error."""

    @functools.wraps(method)
    def call(self: S3Store, *args: Any, **kwargs: Any) -> T:
        from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

        try:
            return method(self, *args, **kwargs)
        except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
            endpoint = self.client.meta.endpoint_url
            raise ServiceUnavailableError(
                f"object store s3://{self.bucket} at {endpoint} (object_store.endpoint_url) cannot be reached: {exc}"
            ) from exc

    return call


class S3Store:
    """Objects in an S3 bucket; S3 makes an object visible only once its upload completes."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    @_reaching
    def put_file(self, src: Path, key: str) -> str:
        self.client.upload_file(str(src), self.bucket, self._key(key))
        return self.uri(key)

    @_reaching
    def put_bytes(self, data: bytes, key: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    @_reaching
    def get_file(self, key: str, dest: Path) -> Path:
        with atomic_path(dest) as tmp:
            self.client.download_file(self.bucket, self._key(key), str(tmp))
        return dest

    @_reaching
    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    @_reaching
    def list(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        return sorted(obj["Key"][strip:] for page in pages for obj in page.get("Contents", []))

    @_reaching
    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @_reaching
    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def s3_client(cfg: ObjectStoreCfg) -> Any:
    """A boto3 S3 client; `endpoint_url` makes the same code talk to MinIO or a test server."""
    import boto3
    from botocore.config import Config

    secret = cfg.secret_access_key.get_secret_value()
    return boto3.client(
        "s3",
        endpoint_url=cfg.endpoint_url or None,
        region_name=cfg.region,
        aws_access_key_id=cfg.access_key_id or None,
        aws_secret_access_key=secret or None,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def make_store(cfg: ObjectStoreCfg, ws: Workspace) -> ObjectStore:
    if cfg.backend == "s3":
        log.info("object store: s3://%s/%s (endpoint %s)", cfg.bucket, cfg.prefix, cfg.endpoint_url or "AWS")
        return S3Store(s3_client(cfg), cfg.bucket, cfg.prefix)
    root = ws.dir("objects", cfg.bucket)
    log.info("object store: folder %s", root)
    return LocalStore(root)
