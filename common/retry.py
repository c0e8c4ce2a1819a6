"""Tenacity retries for transient errors only (connection refused/reset, timeouts, 5xx), each attempt logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from common.errors import MlopsError
from common.settings import RetryCfg

log = logging.getLogger(__name__)
T = TypeVar("T")

# Words that mark a driver error (whose class alone is too broad, e.g. psycopg's OperationalError) as transient.
_TRANSIENT_WORDS = (
    "connection refused",
    "could not connect",
    "timed out",
    "timeout",
    "connection reset",
    "server closed the connection",
    "connection to server",
    "temporarily unavailable",
    "database is locked",
    "too many connections",
    "broken pipe",
)
_TRANSIENT_NAMES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ConnectTimeout",
    "ReadTimeout",
    "ServerDisconnectedError",
}


def is_transient(exc: BaseException) -> bool:
    """True for errors worth another attempt; the cause chain is searched too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_one(exc: BaseException) -> bool:
    if isinstance(exc, MlopsError):
        # our own errors are decisions (bad data, bad config), except an unreachable service
        return getattr(exc, "transient", False)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if type(exc).__name__ in _TRANSIENT_NAMES:
        return True
    status = _http_status(exc)
    if status is not None:
        return status >= 500
    if type(exc).__name__ in ("OperationalError", "InterfaceError"):
        text = str(exc).lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    return False


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(code) if code else None
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def call_with_retry(fn: Callable[[], T], cfg: RetryCfg, what: str) -> T:
    """Call `fn`, retrying transient errors with exponential backoff from config."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(cfg.attempts),
        wait=wait_exponential(multiplier=cfg.initial_wait_s, max=cfg.max_wait_s),
        before_sleep=_log_attempt(what, cfg.attempts),
        reraise=True,
    )
    try:
        return retrying(fn)
    except Exception as exc:
        if is_transient(exc):
            log.error("%s: giving up after %d attempts", what, cfg.attempts)
        raise


def _log_attempt(what: str, attempts: int) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s: attempt %d/%d failed with a transient error (%s: %s); retrying in %.1fs",
            what,
            state.attempt_number,
            attempts,
            type(exc).__name__,
            exc,
            wait,
        )

    return before_sleep
