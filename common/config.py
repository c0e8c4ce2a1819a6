"""Load config.yaml once: ${VAR} interpolation, MLOPS__A__B and --set overrides, pydantic validation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from common.errors import ConfigError
from common.redact import redact, register_secret
from common.settings import URL_KEYS, Settings

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"
ENV_PREFIX = "MLOPS__"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_SECRET_WORDS = ("secret", "password", "token", "api_key")


def load_config(
    path: str | Path | None = None, overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, interpolate, override and validate the config; raises ConfigError naming the key."""
    env = os.environ if environ is None else environ
    raw = _read_yaml(Path(path) if path else DEFAULT_CONFIG)
    for key, value in _env_overrides(env):
        _set_path(raw, key, value)
    for item in overrides:
        key, value = _parse_set(item)
        _set_path(raw, key, value)
    raw = _interpolate(raw, env, "")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    _register_secrets(settings)
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def _env_overrides(env: Mapping[str, str]) -> list[tuple[str, Any]]:
    return [
        (name[len(ENV_PREFIX) :].lower().replace("__", "."), _parse_value(value))
        for name, value in sorted(env.items())
        if name.startswith(ENV_PREFIX)
    ]


def _parse_set(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    return key.strip(), _parse_value(value)


def _parse_value(text: str) -> Any:
    # YAML scalars and flow lists so `--set retry.attempts=5` is an int and `[a, b]` a list.
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"{dotted}: {where} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _interpolate(node: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable {name} is not set (use ${{{name}:-default}} for an optional one)"
        )

    text = _VAR.sub(sub, node)
    # A whole-value reference keeps YAML typing: ${RETRIES:-3} is the int 3.
    return _parse_value(text) if _VAR.fullmatch(node) and text else text


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            expected = _known_keys(err["loc"][:-1])
            lines.append(f"{loc}: unknown key (expected one of: {', '.join(expected)})")
            continue
        shown = err.get("input")
        if any(w in loc.lower() for w in _SECRET_WORDS):
            shown = "***"
        got = f" (got {redact(repr(shown))})" if "input" in err and not isinstance(shown, dict) else ""
        message = err["msg"].removeprefix("Value error, ")
        # a check across sections (a model validator) has no location: its message names the keys itself
        lines.append(f"{loc}: {message}{got}" if loc else message)
    return "invalid config:\n  " + "\n  ".join(lines)


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Settings
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part) if isinstance(model, type) else None
        if field is None:
            return []
        model = field.annotation
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _register_secrets(settings: Settings) -> None:
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    register_secret(settings.object_store.secret_access_key.get_secret_value())
    register_secret(settings.dvc.secret_access_key.get_secret_value())
    register_secret(settings.lineage.api_key.get_secret_value())
    for key in URL_KEYS:  # a credential in any URL: masked wherever it would appear
        value = _value(settings, key)
        parts = urlsplit(value) if "://" in value else None
        if parts is not None:
            register_secret(parts.password)
            if parts.username and not parts.password and parts.scheme in ("http", "https"):
                register_secret(parts.username)  # over http(s) a lone user part is often a token
    for option in settings.features.redis_connection.split(",")[1:]:  # Feast's "host:port,password=…"
        name, _, value = option.partition("=")
        if name.strip() == "password":
            register_secret(value.strip())
    if settings.warehouse.url:
        try:
            register_secret(make_url(settings.warehouse.url).password)
        except ArgumentError:
            raise ConfigError(
                f"warehouse.url: not a SQLAlchemy URL: {redact(settings.warehouse.url)!r}"
            ) from None


def _value(settings: Settings, dotted: str) -> str:
    node: Any = settings
    for part in dotted.split("."):
        node = getattr(node, part)
    return str(node or "")
