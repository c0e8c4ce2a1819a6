"""SQLAlchemy engines: the embedded SQLite warehouse by default, any URL (PostgreSQL) by config."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from common.errors import ServiceUnavailableError
from common.retry import is_transient
from common.settings import WarehouseCfg
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)


def warehouse_url(cfg: WarehouseCfg, ws: Workspace) -> str:
    """The configured URL, or the embedded SQLite file in the workspace."""
    return cfg.url or f"sqlite:///{ws.dir('warehouse') / 'warehouse.db'}"


def is_embedded(cfg: WarehouseCfg) -> bool:
    return not cfg.url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def with_driver(url: str) -> str:
    """A bare postgresql:// (or postgres://) URL names psycopg 3, the project's default driver; SQLAlchemy alone
    would pick psycopg2. postgresql+psycopg2:// keeps psycopg2 (also installed)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str, connect_timeout_s: int = 10) -> Engine:
    from sqlalchemy import create_engine

    url = with_driver(url)
    connect_args: dict[str, object] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = connect_timeout_s
    elif url.startswith("sqlite"):
        connect_args["timeout"] = connect_timeout_s
    log.info("warehouse: %s", safe_url(url))
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


@contextlib.contextmanager
def reaching(url: str) -> Iterator[None]:
    """Turn a connection failure into an error naming the warehouse (password hidden); still retried."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        if not is_transient(exc):
            raise
        cause = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise ServiceUnavailableError(f"warehouse {safe_url(url)} is unreachable: {cause}") from exc


def copy_frame(conn: Connection, table: str, df: pd.DataFrame) -> None:
    """Append `df` to `table` with PostgreSQL's COPY (psycopg 3), the fastest way in: its columns by name."""
    import io

    buf = io.StringIO()
    df.to_csv(buf, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f%z")
    columns = ", ".join(f'"{c}"' for c in df.columns)
    with (
        conn.connection.driver_connection.cursor() as cur,  # type: ignore[union-attr]  # open: we hold it
        cur.copy(f'COPY "{table}" ({columns}) FROM STDIN WITH (FORMAT csv)') as copy,
    ):
        copy.write(buf.getvalue())
