"""Where MLflow is, and a client for it: the tracking (and registry) URI of the config or the workspace's own
SQLite, where artifacts go, and an experiment by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    import mlflow
    from mlflow import MlflowClient

    from common.redact import with_password

    uri = with_password(uri)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """The experiment's id; made with artifacts under `artifact_root` (embedded default) when new."""
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    location = artifact_root.as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)
