"""Argo CD's path as far as it runs here: the status judgement on documented Application documents, the requests
UC6 builds (refresh, sync body, bearer token), and the sync loop over a replayed sequence of API answers (an
operation already in progress waited out, a refused token, a revision never reached)."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from common.errors import EXIT_CONFIG, ConfigError, exit_code_for
from common.gitops.argocd import (
    ArgoCD,
    SyncFailedError,
    Target,
    judge,
    refresh_params,
    sync_and_wait,
    sync_body,
)

DOCS = json.loads((Path(__file__).parents[1] / "fixtures" / "argocd" / "applications.json").read_text())
REV = DOCS["revision"]
URL = "https://argocd.example.com"
APP = "churn-predictor-staging"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.secret-token"
TARGET = Target(REV, "main", ("CreateNamespace=true",))


@pytest.mark.parametrize(
    ("doc", "state", "sync", "health"),
    [
        ("synced_healthy", "done", "Synced", "Healthy"),
        ("out_of_sync", "waiting", "OutOfSync", "Healthy"),
        ("progressing", "waiting", "Synced", "Progressing"),
        ("degraded", "failed", "Synced", "Degraded"),
        ("old_revision", "waiting", "Synced", "Healthy"),
        ("operation_failed", "failed", "OutOfSync", "Healthy"),
        ("operation_running", "waiting", "OutOfSync", "Healthy"),
    ],
)
def test_the_status_judgement_on_documented_documents(doc: str, state: str, sync: str, health: str) -> None:
    verdict = judge(DOCS[doc], REV)
    assert (verdict.state, verdict.sync, verdict.health) == (state, sync, health)


def test_a_failure_says_why() -> None:
    failed = judge(DOCS["operation_failed"], REV)
    assert "storageUri is invalid" in failed.message and "operation Failed" in failed.describe()
    degraded = judge(DOCS["degraded"], REV)
    assert "model.pkl not found" in degraded.describe() and degraded.revision == REV


def test_an_old_operation_that_failed_is_not_this_revisions() -> None:
    doc = json.loads(json.dumps(DOCS["operation_failed"]))
    doc["status"]["operationState"]["syncResult"]["revision"] = "0" * 40
    doc["status"]["operationState"]["operation"]["sync"]["revision"] = "0" * 40
    assert judge(doc, REV).state == "waiting"


def test_the_request_bodies() -> None:
    assert refresh_params("argocd") == {"refresh": "hard", "appNamespace": "argocd"}
    assert sync_body("main", ["CreateNamespace=true"], "argocd") == {
        "revision": "main",
        "prune": True,
        "syncOptions": {"items": ["CreateNamespace=true"]},
        "appNamespace": "argocd",
    }


class Replay(BaseAdapter):
    """A requests transport that answers from a list of (status, body) and records each request."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__()
        self.answers = deque(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        status, body = self.answers.popleft()
        resp = requests.Response()
        resp.status_code, resp._content, resp.url = status, json.dumps(body).encode(), request.url
        resp.headers["Content-Type"] = "application/json"
        return resp

    def close(self) -> None:
        pass


def _client(answers: list[tuple[int, dict[str, Any]]]) -> tuple[ArgoCD, Replay]:
    session = requests.Session()
    replay = Replay(answers)
    session.mount("https://", replay)
    return ArgoCD(URL, TOKEN, session), replay


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_refresh_sync_waiting_out_a_running_operation_then_polling_to_done() -> None:
    argo, replay = _client(
        [
            (200, DOCS["out_of_sync"]),  # GET ?refresh=hard
            (400, DOCS["busy"]),  # POST sync: auto-sync is at it
            (200, DOCS["operation_running"]),
            (200, {}),  # POST sync accepted
            (200, DOCS["progressing"]),
            (200, DOCS["synced_healthy"]),
        ]
    )
    clock = Clock()
    verdict, _ = sync_and_wait(argo, APP, TARGET, 60, 5, clock, clock.sleep)
    assert verdict.state == "done"
    methods = [(r.method, r.path_url) for r in replay.sent]
    assert methods == [
        ("GET", f"/api/v1/applications/{APP}?refresh=hard&appNamespace=argocd"),
        ("POST", f"/api/v1/applications/{APP}/sync"),
        ("GET", f"/api/v1/applications/{APP}?appNamespace=argocd"),
        ("POST", f"/api/v1/applications/{APP}/sync"),
        ("GET", f"/api/v1/applications/{APP}?appNamespace=argocd"),
        ("GET", f"/api/v1/applications/{APP}?appNamespace=argocd"),
    ]
    # the branch the Application follows (auto-sync refuses a SHA); done is judged on the pushed SHA
    assert json.loads(replay.sent[3].body) == sync_body("main", ["CreateNamespace=true"], "argocd")
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in replay.sent)


def test_an_app_already_at_the_revision_is_not_synced_again() -> None:
    argo, replay = _client([(200, DOCS["synced_healthy"])])
    verdict, _ = sync_and_wait(argo, APP, TARGET, 60, 5)
    assert verdict.state == "done" and [r.method for r in replay.sent] == ["GET"]


def test_a_revision_never_reached_ends_waiting_with_the_last_status() -> None:
    argo, _ = _client([(200, DOCS["out_of_sync"]), (200, {})] + [(200, DOCS["old_revision"])] * 20)
    clock = Clock()
    verdict, _ = sync_and_wait(argo, APP, TARGET, 30, 5, clock, clock.sleep)
    assert verdict.state == "waiting" and verdict.revision != REV and clock.now >= 30


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_config_error_naming_the_url_and_app_never_the_token(status: int) -> None:
    argo, _ = _client([(status, DOCS["denied"])])
    with pytest.raises(ConfigError) as caught:
        argo.get(APP, refresh=True)
    text = str(caught.value)
    assert exit_code_for(caught.value) == EXIT_CONFIG
    assert URL in text and APP in text and f"HTTP {status}" in text and "ARGOCD_AUTH_TOKEN" in text
    assert TOKEN not in text


def test_a_missing_app_says_how_to_create_it() -> None:
    argo, _ = _client([(404, {"error": "not found", "code": 5})])
    with pytest.raises(ConfigError, match=f"has no application {APP}: create it from argocd/{APP}.yaml"):
        argo.get(APP)


def test_a_server_error_is_transient() -> None:
    from common.retry import is_transient

    argo, _ = _client([(503, {"error": "unavailable"})])
    with pytest.raises(Exception) as caught:
        argo.get(APP)
    assert is_transient(caught.value) and "HTTP 503" in str(caught.value)


def test_an_app_at_the_revision_but_out_of_sync_is_synced_again() -> None:
    drifted = json.loads(json.dumps(DOCS["synced_healthy"]))
    drifted["status"]["sync"]["status"] = "OutOfSync"  # someone changed the live object; selfHeal is off
    argo, replay = _client([(200, drifted), (200, {}), (200, DOCS["synced_healthy"])])
    clock = Clock()
    verdict, _ = sync_and_wait(argo, APP, TARGET, 60, 5, clock, clock.sleep)
    assert verdict.state == "done" and [r.method for r in replay.sent] == ["GET", "POST", "GET"]


def test_a_failed_operation_before_the_request_is_retried_not_taken_for_this_syncs_outcome() -> None:
    """Auto-sync met a passing error on this revision; our sync runs again, and the old failure, still shown
    by the first look after the request, does not count."""
    retried = json.loads(json.dumps(DOCS["synced_healthy"]))
    retried["status"]["operationState"]["startedAt"] = "2026-11-28T10:05:00Z"
    argo, replay = _client(
        [(200, DOCS["operation_failed"]), (200, {}), (200, DOCS["operation_failed"]), (200, retried)]
    )
    clock = Clock()
    verdict, _ = sync_and_wait(argo, APP, TARGET, 60, 5, clock, clock.sleep)
    assert verdict.state == "done" and [r.method for r in replay.sent] == ["GET", "POST", "GET", "GET"]
    again = json.loads(json.dumps(DOCS["operation_failed"]))
    again["status"]["operationState"]["startedAt"] = "2026-11-28T10:05:00Z"  # our sync failed too
    argo, _ = _client([(200, DOCS["operation_failed"]), (200, {}), (200, again)])
    verdict, _ = sync_and_wait(argo, APP, TARGET, 60, 5, clock, clock.sleep)
    assert verdict.state == "failed" and "storageUri is invalid" in verdict.message


def test_a_refused_sync_request_says_what_argo_cd_said() -> None:
    argo, _ = _client([(200, DOCS["out_of_sync"]), (400, DOCS["auto_sync_refuses_sha"])])
    with pytest.raises(
        SyncFailedError, match=r"HTTP 400 Cannot sync to \w+: auto-sync currently set to main"
    ):
        sync_and_wait(argo, APP, TARGET, 60, 5)
