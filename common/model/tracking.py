"""Where MLflow is, and a client for it: the tracking (and registry) URI of the config or the workspace's own
SQLite, where artifacts go, and an experiment by name."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import ServiceUnavailableError
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from mlflow import MlflowClient


def tracking_uri(cfg: Settings, ws: Workspace) -> str:
    return cfg.mlflow.tracking_uri or f"sqlite:///{ws.dir('mlflow') / 'mlflow.db'}"


def artifact_root(uri: str, ws: Workspace) -> Path | None:
    """Artifacts in the workspace, unless a tracking server decides where they go (its own S3 store, say)."""
    return None if uri.startswith(("http://", "https://")) else ws.dir("mlflow", "artifacts")


def client_for(uri: str) -> MlflowClient:
    """The client of `uri` (given without its password in a pipeline task: the password comes from the
    environment, common.redact.with_password), set as MLflow's own too."""
    from mlflow import MlflowClient

    from common.redact import with_password

    uri = with_password(uri)
    if uri.startswith(("http://", "https://")):
        reach(uri)
    uri = use(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def use(uri: str) -> str:
    """Make `uri` MLflow's tracking and registry URI in this process; returns the form MLflow was given. A tracking
    server's credentials (http://user:password@host) go to MLflow's own basic-auth variables, not into the URI:
    MLflow prints the URI it has ("View run ... at: <uri>") from processes whose output we do not filter."""
    import mlflow

    from common.redact import with_password, without_credentials

    uri = with_password(uri)
    if uri.startswith(("http://", "https://")) and uri != without_credentials(uri):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(uri)
        os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username or "")
        os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password or "")
        uri = without_credentials(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """The experiment's id; made with artifacts under `artifact_root` (embedded default) when new."""
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    location = artifact_root.as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


REACH_TIMEOUT_S = 5.0
_REACHED: dict[str, float] = {}  # tracking server -> when it last answered: asked once per half minute
# MLflow's own client retries a refused connection 7 times with a doubling backoff (minutes of silence); ours
# retries transient errors by config (retry.*), so MLflow's are kept short
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def reach(uri: str) -> None:
    """A tracking server answers its /health, or ServiceUnavailableError naming it (transient: retried, then
    exit 1), in seconds rather than after MLflow's own minutes of retries."""
    import urllib.error
    import urllib.request

    from common.redact import authorised, without_credentials

    for key, value in HTTP_RETRIES.items():
        os.environ.setdefault(key, value)
    if time.monotonic() - _REACHED.get(uri, -1e9) < 30:
        return
    try:
        with urllib.request.urlopen(authorised(uri, "/health"), timeout=REACH_TIMEOUT_S) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailableError(
            f"MLflow tracking server {without_credentials(uri)} (mlflow.tracking_uri) cannot be reached: {reason}"
        ) from exc
    _REACHED[uri] = time.monotonic()
