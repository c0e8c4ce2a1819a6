"""Errors that scripts map to exit codes (cron reads them): see the table in the README."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_GATE = 4
EXIT_LOCKED = 75  # EX_TEMPFAIL


class MlopsError(Exception):
    """Base of the project's errors; `exit_code` is what the script returns."""

    exit_code = EXIT_ERROR


class ConfigError(MlopsError):
    """Bad config or command line; the message names the key and what was expected."""

    exit_code = EXIT_CONFIG


class DataValidationError(MlopsError):
    """The data failed validation; the message lists each problem with counts and examples."""

    exit_code = EXIT_DATA


class GateFailedError(MlopsError):
    """The model failed the evaluation gate; the message lists every unmet threshold."""

    exit_code = EXIT_GATE


class LockHeldError(MlopsError):
    """Another run holds the lock."""

    exit_code = EXIT_LOCKED


class ServiceUnavailableError(MlopsError):
    """A service (warehouse, object store, ...) cannot be reached; transient, so it is retried first."""

    transient = True


class MissingInputError(MlopsError):
    """A step ran alone before the step that makes its input."""


def exit_code_for(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, MlopsError) else EXIT_ERROR


def exit_status(exc: SystemExit) -> int:
    """The process status a SystemExit gives, as Python computes it: None is 0, a message is 1."""
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_ERROR


class FairnessFailedError(MlopsError):
    """The model failed the fairness thresholds under fairness.enforce: block; the message lists each one."""

    exit_code = EXIT_GATE
