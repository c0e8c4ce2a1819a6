"""Keep secrets out of logs and messages: URL passwords and registered secret values become ***."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import urllib.request

_secrets: set[str] = set()
# scheme://user:password@host -> scheme://user:***@host, for any URL in any text
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<tail>@)")
# https://token@host -> https://***@host: over http(s) a lone user part is often a token (ssh's git@ is not)
_HTTP_USER = re.compile(r"(?P<head>\bhttps?://)(?P<user>[^:/@\s]+)(?P<tail>@)")


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a later log line or message."""
    if value and len(value) >= 3:
        _secrets.add(value)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes some libraries (kfp) put in their messages


def redact(text: str) -> str:
    text = _ANSI.sub("", text)
    text = _URL_PASSWORD.sub(r"\g<head>***\g<tail>", text)
    text = _HTTP_USER.sub(r"\g<head>***\g<tail>", text)
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked (attached to every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def without_password(url: str) -> str:
    """`url` with the password of its user part left out (the user stays): a form safe to pass to a library that
    prints its arguments, or to record."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url) if "://" in url else None
    if parts is None or parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))


def without_credentials(url: str) -> str:
    """`url` with no user part at all: an identity to record (over http(s) a lone user part is often a token)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url) if "://" in url else None
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def with_password(url: str, environ_key: str = "MLFLOW_TRACKING_URI") -> str:
    """The full URL behind `url` (given without its password), from the environment: a pipeline task is given
    the URL without its password and reads the secret from its own environment (locally inherited, on a
    cluster from a Secret)."""
    import os

    full = os.environ.get(environ_key, "")
    return full if full and without_password(full) == url else url


def authorised(url: str, path: str = "") -> urllib.request.Request:
    """A urllib request for `path` under `url` with the user part of `url` (http://user:password@host) sent as
    HTTP basic auth: urllib would take it for part of the host, and the address stays free of it."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    request = urllib.request.Request(f"{without_credentials(url).rstrip('/')}{path}")
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        request.add_header("Authorization", f"Basic {base64.b64encode(pair.encode()).decode()}")
    return request


def as_configured(recorded: str, configured: str) -> str:
    """`configured` (the config's URL, with its password) when `recorded` is that URL as a record keeps it,
    without the password; else `recorded`: a record never holds the password, the run that reads it has it."""
    return configured if configured and without_password(configured) == recorded else recorded
