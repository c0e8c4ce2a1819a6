"""The Feast repo config from our config: registry and SQLite online store in <workspace>/feast, or Redis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from feast import FeatureStore


def offline_source(cfg: Settings, ws: Workspace) -> Path:
    return ws.dir("features") / f"{cfg.features.feature_view}.parquet"


def repo_config(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """Plain data (JSON-able) so a KFP component can rebuild the same store."""
    feast_dir = ws.dir("feast")
    online: dict[str, Any] = {"type": "sqlite", "path": str(feast_dir / "online.db")}
    if cfg.features.online_store == "redis":
        online = {"type": "redis", "connection_string": cfg.features.redis_connection}
    return {
        "project": cfg.features.project,
        "provider": "local",
        "registry": str(feast_dir / "registry.db"),
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
        "repo_path": str(feast_dir),
    }


def open_store(config: dict[str, Any]) -> FeatureStore:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    return FeatureStore(config=RepoConfig(**config))
