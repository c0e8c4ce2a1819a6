"""Sync an environment to the head of the deployment repo: Argo CD's API when gitops.argocd.url is set, else the
local reconciler; both judged the same way. Also the status: what git says is deployed, and what runs."""

from __future__ import annotations

import logging
import os
from typing import Any

from common.errors import ConfigError, MissingInputError
from common.gitops.argocd import ArgoCD, SyncFailedError, Target, Verdict, judge, sync_and_wait
from common.gitops.layout import Release, app_name, app_path, overlay_path
from common.gitops.promote import deployed, open_repo
from common.gitops.reconcile import observe, reconcile
from common.gitops.repo import DeployRepo, subject
from common.settings import Settings
from common.workspace import Workspace

log = logging.getLogger(__name__)
SYNC_OPTIONS = ("CreateNamespace=true",)


def head_release(cfg: Settings, repo: DeployRepo) -> tuple[str, Release]:
    """The revision to sync and what the environment's overlay deploys there."""
    env = cfg.gitops.environment
    revision = repo.head()
    found = deployed(repo, revision, env) if revision else None
    if revision is None or found is None:
        from common.usecases import script_for

        raise MissingInputError(
            f"the deployment repo {repo.url} ({cfg.gitops.branch}) deploys nothing to {env}: run "
            f"{script_for('promote')} first"
        )
    return revision, found[0]


def argocd_client(cfg: Settings) -> ArgoCD:
    import requests

    token = os.environ.get("ARGOCD_AUTH_TOKEN", "")
    if not token:
        raise ConfigError(
            f"gitops.argocd.url is {cfg.gitops.argocd.url}: set ARGOCD_AUTH_TOKEN to an API token"
        )
    from common.redact import register_secret

    register_secret(token)
    session = requests.Session()
    session.verify = cfg.gitops.argocd.verify_tls
    return ArgoCD(cfg.gitops.argocd.url, token, session, cfg.gitops.argocd.namespace)


def sync(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """Make the environment run the repo's head; raises SyncFailedError with the last status otherwise."""
    repo = open_repo(cfg, ws)
    revision, release = head_release(cfg, repo)
    app = app_name(cfg, cfg.gitops.environment)
    if cfg.gitops.argocd.url:
        target = Target(revision, cfg.gitops.branch, SYNC_OPTIONS)
        timeout, poll = cfg.gitops.timeout_s, cfg.gitops.argocd.poll_s
        verdict, _ = sync_and_wait(argocd_client(cfg), app, target, timeout, poll)
    else:
        verdict = judge(reconcile(cfg, ws, release, revision, app), revision)
    if verdict.state != "done":
        how = "failed" if verdict.state == "failed" else f"was not done within {cfg.gitops.timeout_s:g}s"
        raise SyncFailedError(
            f"the sync of {app} to {revision[:12]} (v{release.version}) {how}: {verdict.describe()}"
        )
    return _outputs(cfg, repo, app, revision, release, verdict)


def status(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """What git says the environment deploys (and its last commits) against what runs; changes nothing."""
    repo = open_repo(cfg, ws)
    revision, release = head_release(cfg, repo)
    app = app_name(cfg, cfg.gitops.environment)
    if cfg.gitops.argocd.url:
        verdict = judge(argocd_client(cfg).get(app), revision)
    else:
        verdict = judge(observe(cfg, ws, release, revision, app), revision)
    env = cfg.gitops.environment
    commits = list(repo.history(overlay_path(env), app_path(cfg, env)))[:5]
    return {
        **_outputs(cfg, repo, app, revision, release, verdict),
        "in_sync": verdict.state == "done",
        "history": [f"{c.hexsha[:12]} {c.committed_datetime.isoformat()} {subject(c)}" for c in commits],
    }


def _outputs(
    cfg: Settings, repo: DeployRepo, app: str, revision: str, release: Release, verdict: Verdict
) -> dict[str, Any]:
    return {
        "mode": "argocd" if cfg.gitops.argocd.url else "local",
        "url": repo.url,
        "app": app,
        "environment": cfg.gitops.environment,
        "revision": revision,
        "version": release.version,
        "storage_uri": release.storage_uri,
        "sync": verdict.sync,
        "health": verdict.health,
        "message": verdict.message,
        "overlay": overlay_path(cfg.gitops.environment),
    }
