"""Logging: configured once per process in main(); to stderr and var/logs/<name>.log, secrets masked."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from common.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str, log_dir: Path, name: str) -> Path:
    """Send every logger to stderr and to `log_dir/<name>.log`; returns the log file."""
    log_file = log_dir / f"{name}.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    redacting = RedactingFilter()
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(log_file)):
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redacting)
        root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless asked for DEBUG.
    for noisy in (
        "botocore",
        "boto3",
        "s3transfer",
        "urllib3",
        "git",
        "dvc",
        "great_expectations",
        "sqlalchemy",
        "asyncio",
        "fsspec",
        "s3fs",
        "aiobotocore",
        "feast",
        "kfp",
        "mlflow",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel("DEBUG" if level == "DEBUG" else "WARNING")
    return log_file
