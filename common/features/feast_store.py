"""The Feast repo config from our config (registry and SQLite online store in <workspace>/feast, or a SQL
registry and Redis), and
the one place column names are mapped for Feast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError
from common.settings import DatasetCfg, FeaturesCfg, Settings
from common.workspace import Workspace

# ':' and '@' are the syntax of Feast feature references (view:feature@version): a name holding one is refused.
_REFUSED = re.compile(r"[:@]")

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
        "registry": registry_config(cfg.features.registry_url, feast_dir),
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
        "repo_path": str(feast_dir),
    }


def registry_config(url: str, feast_dir: Path) -> str | dict[str, Any]:
    """The registry file in the workspace, or Feast's SQL registry at `url` (recorded without its password: the
    store is opened with the one in FEAST_REGISTRY_URL, common.redact.with_password)."""
    if not url:
        return str(feast_dir / "registry.db")
    from common.redact import without_password

    # cache_ttl_seconds 0: every read sees what another process (the trainer, the server) applied last
    return {"registry_type": "sql", "path": without_password(url), "cache_ttl_seconds": 0}


def uninstrumented_feast() -> None:
    """Before Feast is imported: its classes are decorated with typeguard's @typechecked, which re-parses and
    recompiles each module's source at import, ~6 s of every process that opens a store (profiled: 6.2 of the 7 s
    of `import feast`). typeguard documents these checks as off in production (under `python -O` the decorator
    is a no-op); here it is one for Feast, the only user of typeguard among our dependencies."""
    import typeguard

    typeguard.typechecked = _as_is


def _as_is(target: Any = None, **_: Any) -> Any:
    """typeguard.typechecked without the instrumentation, in both its forms (@typechecked, @typechecked(...))."""
    return target if target is not None else _as_is


def open_store(config: dict[str, Any]) -> FeatureStore:
    uninstrumented_feast()
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    registry = config["registry"]
    if isinstance(
        registry, dict
    ):  # the SQL registry: its password from the environment, never from the record
        from common.redact import with_password

        config = {
            **config,
            "registry": {**registry, "path": with_password(registry["path"], "FEAST_REGISTRY_URL")},
        }
    return FeatureStore(config=RepoConfig(**config))


def feast_names(fcfg: FeaturesCfg, ds: DatasetCfg) -> dict[str, str]:
    """Each column of the Feast source (id, time, features) -> the name Feast keeps it under: the same name
    (mixed case, spaces and reserved words work), except that a character Feast refuses becomes '_'. Models and
    requests use the names as the warehouse has them; only the Feast source and reads from Feast are mapped."""
    from common.features.engineering import feature_types

    columns = [ds.id_column, ds.event_time, *feature_types(fcfg, ds)]
    mapped = {c: _REFUSED.sub("_", c) for c in columns}
    owners = {ds.target: ds.target}  # the label rides along the entity rows, unmapped
    for column, name in mapped.items():
        if name in owners:
            raise ConfigError(
                f"columns {owners[name]!r} and {column!r} both map to the Feast name {name!r} "
                "(':' and '@' become '_'): rename one in features.derived or the warehouse"
            )
        owners[name] = column
    return mapped


def from_feast(names: dict[str, str]) -> dict[str, str]:
    """The inverse of `feast_names`: Feast's name -> the column's name; for renaming what Feast returns."""
    return {feast: column for column, feast in names.items() if feast != column}


def source_id_type(source: Path, ds: DatasetCfg) -> str:
    """The id type the offline source was written with (step 04), else dataset.id_type (auto: int)."""
    if source.exists():
        import pyarrow.parquet as pq

        from common.data.schema import id_type_of

        return id_type_of(pq.read_schema(source), _REFUSED.sub("_", ds.id_column))
    return "str" if ds.id_type == "str" else "int"
