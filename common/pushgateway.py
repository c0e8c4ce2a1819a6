"""Pushing to a Prometheus Pushgateway whose URL may carry credentials (http://user:password@host:9091): they
are sent as HTTP basic auth, never as part of the address, and never appear in what is recorded."""

from __future__ import annotations

from typing import Any

from common.redact import without_credentials


def push(url: str, job: str, registry: Any, grouping_key: dict[str, str] | None = None) -> str:
    """Push `registry` to the gateway at `url` (OSError when it cannot be reached); returns the group's address,
    without credentials."""
    from urllib.parse import unquote, urlsplit

    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import default_handler

    parts = urlsplit(url)
    address = without_credentials(url)
    handler = default_handler
    if parts.username is not None:
        handler = _basic_auth(unquote(parts.username), unquote(parts.password or ""))
    push_to_gateway(
        address, job=job, grouping_key=grouping_key, registry=registry, timeout=10, handler=handler
    )
    group = "".join(f"/{k}/{v}" for k, v in (grouping_key or {}).items())
    return f"{address.rstrip('/')}/metrics/job/{job}{group}"


def _basic_auth(user: str, password: str) -> Any:
    from prometheus_client.exposition import basic_auth_handler

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes) -> Any:
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return handler
