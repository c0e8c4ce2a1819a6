"""The embedded default of Argo CD's job: the deployment repo drives the local model server. It reads what the
environment's overlay deploys at a revision, checks that its storageUri is where the registry keeps that version,
and starts or replaces the local server through the shared serving code. It answers in an Argo CD Application's
status shape (Synced / OutOfSync, Healthy / Degraded / Missing, the revision), so one judgement reads both."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from common.errors import MlopsError
from common.gitops.layout import Release
from common.serving import local_server, serve_local
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from common.model.version import ModelVersion

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


def target_of(cfg: Settings, ws: Workspace, release: Release) -> ModelVersion | str:
    """The version the release names, or why it cannot be served."""
    from common.model.version import find

    if release.model != cfg.training.registered_model:
        return f"the manifest deploys {release.model}, not {cfg.training.registered_model}"
    found = find(cfg, ws, release.version) if release.version.isdigit() else None
    if found is None:
        return f"the registry has no {release.model} version {release.version!r}"
    if found.source != release.storage_uri:
        return (
            f"the manifest's storageUri {release.storage_uri} is not where version {release.version} is "
            f"({found.source})"
        )
    return found


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
