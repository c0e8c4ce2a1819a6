"""Argo CD's REST API (v1): refresh an Application, sync it to a revision, and judge its status until it runs that
revision Synced and Healthy. The judgement is pure and also reads the local reconciler's status, which has the
same shape (status.sync, status.health, status.operationState)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError, MlopsError, ServiceUnavailableError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)
BUSY = "another operation is already in progress"


class SyncFailedError(MlopsError):
    """The application did not reach the revision Synced and Healthy; the message has its last status."""


@dataclass(frozen=True)
class Verdict:
    state: str  # done | waiting | failed
    sync: str
    health: str
    revision: str
    phase: str
    message: str

    def describe(self) -> str:
        at = self.revision[:12] or "no revision"
        text = f"sync {self.sync or 'Unknown'} at {at}, health {self.health or 'Unknown'}"
        text += f", operation {self.phase}" if self.phase else ""
        return f"{text}: {self.message}" if self.message else text


def judge(app: dict[str, Any], revision: str, stale: str = "") -> Verdict:
    """Done when the app runs `revision` Synced and Healthy after a Succeeded operation; failed when an
    operation for that revision Failed (or Errored) or the synced revision is Degraded; else waiting. `stale`:
    the start time of an operation that ended before our sync request, whose failure is not this sync's."""
    status = app.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    operation = status.get("operationState") or {}
    phase = operation.get("phase", "")
    operated = (operation.get("syncResult") or {}).get("revision") or (
        (operation.get("operation") or {}).get("sync") or {}
    ).get("revision")
    at = sync.get("revision", "")
    message = health.get("message") or operation.get("message") or ""
    state = "waiting"
    ours = not stale or operation.get("startedAt") != stale
    if phase in ("Failed", "Error") and operated == revision and ours:
        state, message = "failed", operation.get("message") or message
    elif at == revision and sync.get("status") == "Synced":
        if health.get("status") == "Healthy" and phase == "Succeeded":
            state = "done"
        elif health.get("status") == "Degraded" and phase not in ("Running", "Terminating"):
            state = "failed"
    return Verdict(state, sync.get("status", ""), health.get("status", ""), at, phase, message)


def started(app: dict[str, Any]) -> str:
    """When the app's last operation started ("" when it has none)."""
    return ((app.get("status") or {}).get("operationState") or {}).get("startedAt", "")


def refresh_params(namespace: str) -> dict[str, str]:
    """GET /api/v1/applications/{name} with these makes Argo CD read the repo again before answering (the
    Application's namespace named, for Argo CD's applications in any namespace)."""
    return {"refresh": "hard", "appNamespace": namespace}


def sync_body(target: str, options: list[str], namespace: str) -> dict[str, Any]:
    """POST /api/v1/applications/{name}/sync, pruning what git no longer has. The revision is the branch the
    Application follows: while auto-sync is on, Argo CD refuses any other ("Cannot sync to <sha>: auto-sync
    currently set to main"); the pushed commit is what the wait then checks for."""
    return {"revision": target, "prune": True, "syncOptions": {"items": options}, "appNamespace": namespace}


class ArgoCD:
    """The calls UC6 makes; the session is passed in (its TLS and proxy settings are the caller's)."""

    def __init__(
        self,
        url: str,
        token: str,
        session: requests.Session,
        namespace: str = "argocd",
        timeout_s: float = 30,
    ) -> None:
        self.url, self.session, self.timeout_s = url.rstrip("/"), session, timeout_s
        self.namespace = namespace  # where the Application object lives
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, app: str, refresh: bool = False) -> dict[str, Any]:
        params = refresh_params(self.namespace) if refresh else {"appNamespace": self.namespace}
        return self._call("GET", app, f"/api/v1/applications/{app}", params=params)

    def sync(self, app: str, revision: str, options: list[str]) -> dict[str, Any]:
        body = sync_body(revision, options, self.namespace)
        return self._call("POST", app, f"/api/v1/applications/{app}/sync", json=body)

    def _call(self, method: str, app: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import requests

        try:
            resp = self.session.request(method, self.url + path, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailableError(f"Argo CD at {self.url} cannot be reached: {exc}") from exc
        if resp.status_code in (401, 403):
            raise ConfigError(
                f"Argo CD at {self.url} refused application {app} (HTTP {resp.status_code}): set "
                "ARGOCD_AUTH_TOKEN to a token of an account allowed to get and sync it"
            )
        if resp.status_code == 404:
            raise ConfigError(
                f"Argo CD at {self.url} has no application {app}: create it from argocd/{app}.yaml in the "
                "deployment repo (kubectl apply -f), or set gitops.argocd.app"
            )
        if resp.status_code >= 500:
            raise ServiceUnavailableError(f"Argo CD at {self.url}: HTTP {resp.status_code} {_error(resp)}")
        if resp.status_code >= 400:
            raise SyncFailedError(
                f"Argo CD at {self.url}, {method} {path}: HTTP {resp.status_code} {_error(resp)}"
            )
        return resp.json()


def _error(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    return str(body.get("message") or body.get("error") or body)[:300]


def _synced_at(verdict: Verdict, revision: str) -> bool:
    return verdict.revision == revision and verdict.sync == "Synced"


@dataclass(frozen=True)
class Target:
    """What to sync: the pushed commit, and the branch the Application follows."""

    revision: str
    branch: str
    options: tuple[str, ...] = ()


def sync_and_wait(
    argo: ArgoCD,
    app: str,
    target: Target,
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Verdict, dict[str, Any]]:
    """Refresh; unless the app already runs the revision in sync, request a sync (waiting out an operation in
    progress); then poll until judged or out of time."""
    deadline = clock() + timeout_s
    doc = argo.get(app, refresh=True)
    stale = ""
    if not _synced_at(judge(doc, target.revision), target.revision):
        stale = started(doc)  # a failure before our request (a passing one, say) is not this sync's outcome
        doc = _request(argo, app, target, deadline, poll_s, clock, sleep) or doc
    verdict = judge(doc, target.revision, stale)
    while verdict.state == "waiting" and clock() < deadline:
        sleep(poll_s)
        doc = argo.get(app)
        verdict = judge(doc, target.revision, stale)
        log.info("%s: %s", app, verdict.describe())
    return verdict, doc


def _request(
    argo: ArgoCD,
    app: str,
    target: Target,
    deadline: float,
    poll_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """POST the sync; while another operation runs, wait and look again. None once requested; the app's
    document when auto-sync got it to the revision first, or time ran out."""
    while True:
        try:
            argo.sync(app, target.branch, list(target.options))
            return None
        except SyncFailedError as exc:
            if BUSY not in str(exc):
                raise
        log.info("%s: %s; waiting %.0fs", app, BUSY, poll_s)
        sleep(poll_s)
        doc = argo.get(app)
        if _synced_at(judge(doc, target.revision), target.revision) or clock() >= deadline:
            return doc
