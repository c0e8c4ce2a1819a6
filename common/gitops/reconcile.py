"""The embedded default of Argo CD's job: the deployment repo drives the local model server. It reads what the
environment's overlay deploys at a revision, checks that its storageUri is where the registry keeps that version,
and starts or replaces the local server through the shared serving code. It answers in an Argo CD Application's
status shape (Synced / OutOfSync, Healthy / Degraded / Missing, the revision), so one judgement reads both."""

from __future__ import annotations

import logging
from typing import Any

from common.errors import MlopsError
from common.gitops.layout import Release
from common.serving import local_server, serve_local
from common.settings import Settings
from common.workspace import Workspace

log = logging.getLogger(__name__)


def status_doc(app: str, revision: str, sync: str, health: str, phase: str, message: str) -> dict[str, Any]:
    """An Application-shaped status (the fields of Argo CD's v1alpha1 Application that UC6 reads)."""
    return {
        "metadata": {"name": app},
        "status": {
            "sync": {"status": sync, "revision": revision},
            "health": {"status": health, "message": message},
            "operationState": {"phase": phase, "message": message, "syncResult": {"revision": revision}},
        },
    }


def target_of(cfg: Settings, ws: Workspace, release: Release) -> dict[str, Any] | str:
    """The version the release names as the server needs it, or why it cannot be served."""
    from mlflow.exceptions import MlflowException

    from common.model.registry import client_for, tracking_uri

    if release.model != cfg.training.registered_model:
        return f"the manifest deploys {release.model}, not {cfg.training.registered_model}"
    client = client_for(tracking_uri(cfg, ws))
    try:
        version = client.get_model_version(release.model, release.version)
        stored = client.get_model_version_download_uri(release.model, release.version)
    except MlflowException as exc:
        return f"the registry has no {release.model} version {release.version!r}: {exc.message}"
    if stored != release.storage_uri:
        return f"the manifest's storageUri {release.storage_uri} is not where version {release.version} is ({stored})"
    return {
        "version": release.version,
        "model_uri": f"models:/{release.model}/{release.version}",
        "threshold": float(version.tags.get("decision_threshold", 0.5)),
        "storage_uri": stored,
        "tags": dict(version.tags or {}),
    }


def observe(cfg: Settings, ws: Workspace, release: Release, revision: str, app: str) -> dict[str, Any]:
    """How the local server compares with the release, without touching it."""
    from common.serving.versions import server_spec

    target = target_of(cfg, ws, release)
    if isinstance(target, str):
        return status_doc(app, revision, "OutOfSync", "Degraded", "", target)
    if serve_local.served(ws, server_spec(cfg, ws, target, release.alias)) is not None:
        return status_doc(
            app, revision, "Synced", "Healthy", "Succeeded", f"version {release.version} serves"
        )
    current = local_server.state(ws)
    if current is None:
        return status_doc(app, revision, "OutOfSync", "Missing", "", "no local model server runs")
    health = "Healthy" if local_server.answers_as(current["spec"], current["pid"]) else "Degraded"
    return status_doc(app, revision, "OutOfSync", health, "", f"version {current['version']} serves")


def reconcile(cfg: Settings, ws: Workspace, release: Release, revision: str, app: str) -> dict[str, Any]:
    """Serve what the repo says; the status after it."""
    from common.serving.versions import server_spec

    target = target_of(cfg, ws, release)
    if isinstance(target, str):
        return status_doc(app, revision, "OutOfSync", "Degraded", "Failed", target)
    try:
        done = serve_local.ensure(cfg, ws, server_spec(cfg, ws, target, release.alias), target)
    except MlopsError as exc:  # the server did not start (the previous one is restored): the sync failed
        return status_doc(app, revision, "OutOfSync", "Degraded", "Failed", str(exc))
    what = "now serves" if done["changed"] else "serves"
    log.info("%s: version %s %s at %s", app, release.version, what, revision[:12])
    return status_doc(app, revision, "Synced", "Healthy", "Succeeded", f"version {release.version} {what}")
