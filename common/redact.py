"""Keep secrets out of logs and messages: URL passwords and registered secret values become ***."""

from __future__ import annotations

import logging
import re

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
