"""The deployment repo over real git remotes (bare repos over file://): commits with trailers git itself parses,
every push result checked (a hook's rejection is an error saying what git said, a moved branch a race to retry),
rollback's choice of commit, and https credentials that reach git only through the environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.errors import ConfigError
from common.gitops.repo import DeployRepo, GitOpsError, PushRaceError, git_env, local_remote
from common.gitops.rollback import to_revert

AUTHOR = ("mlops-bot", "mlops-bot@localhost")


def _bare(path: Path) -> str:
    return local_remote(path)


def _commit(repo: DeployRepo, name: str, text: str, trailers: dict[str, str]) -> str:
    repo.reset()
    assert repo.write({name: text}) == [name]
    return repo.commit(f"deploy: {name}\n\nBody line.", trailers, AUTHOR)


def test_a_commit_carries_trailers_git_parses_and_a_push_lands(tmp_path: Path) -> None:
    remote = _bare(tmp_path / "deploy.git")
    repo = DeployRepo(remote, tmp_path / "clone", "main")
    assert repo.head() is None  # a new, empty repo
    sha = _commit(repo, "a.yaml", "a: 1\n", {"Model-Version": "3", "Environment": "staging"})
    repo.push("main")
    repo.reset()
    assert repo.head() == sha
    commit = repo.repo.commit(sha)
    assert commit.trailers_dict == {"Model-Version": ["3"], "Environment": ["staging"]}
    assert repo.write({"a.yaml": "a: 1\n"}) == []  # the same text is no change
    assert repo.read(sha, "a.yaml") == "a: 1\n" and repo.read(sha, "missing.yaml") is None


def test_a_hooks_rejection_is_an_error_with_what_git_said(tmp_path: Path) -> None:
    remote = tmp_path / "deploy.git"
    url = _bare(remote)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo = DeployRepo(url, tmp_path / "clone", "main")
    _commit(repo, "a.yaml", "a: 1\n", {})
    with pytest.raises(GitOpsError) as caught:
        repo.push("main")
    assert not isinstance(caught.value, PushRaceError)
    assert "rejected" in str(caught.value) and "pre-receive hook declined" in str(caught.value)


def test_a_branch_that_moved_since_the_fetch_is_a_race(tmp_path: Path) -> None:
    url = _bare(tmp_path / "deploy.git")
    ours = DeployRepo(url, tmp_path / "ours", "main")
    theirs = DeployRepo(url, tmp_path / "theirs", "main")
    _commit(ours, "a.yaml", "a: 1\n", {})
    ours.push("main")
    ours.reset()
    ours.write({"b.yaml": "b: 1\n"})
    ours.commit("deploy: b", {}, AUTHOR)
    _commit(theirs, "c.yaml", "c: 1\n", {})
    theirs.push("main")
    with pytest.raises(PushRaceError, match="rejected"):
        ours.push("main")


def _release(repo: DeployRepo, cfg: Any, version: str, alias: str = "champion", trailers: Any = None) -> str:
    """Commit and push the overlay of `version` as step 01 writes it (the base too, the first time)."""
    from common.gitops.layout import Release, base_files, overlay_files

    release = Release(
        "churn-predictor", version, alias, f"s3://mlops/m/{version}", f"run{version}", "data-v1"
    )
    repo.reset()
    repo.write({**base_files(cfg, release), **overlay_files(cfg, release, "staging", repo.url)})
    sha = repo.commit(
        f"deploy(churn-predictor): v{version} ({alias})", trailers or {"Model-Version": version}, AUTHOR
    )
    repo.push("main")
    return sha


def test_rollback_takes_the_newest_promotion_not_reverted_yet(tmp_path: Path) -> None:
    from common.config import load_config

    cfg = load_config(environ={})
    repo = DeployRepo(_bare(tmp_path / "deploy.git"), tmp_path / "clone", "main")
    shas = [_release(repo, cfg, v) for v in ("1", "2", "3")]
    revert = _release(repo, cfg, "2", trailers={"Model-Version": "2", "Reverts": shas[2]})
    repo.reset()
    commits, undone, back = to_revert(repo, "staging")
    assert [c.hexsha for c in commits] == [shas[1]] and (undone.version, back.version) == ("2", "1")
    assert revert == repo.head()


def test_a_same_version_update_is_reverted_with_its_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v2 promoted as challenger, then updated as champion: the rollback takes both, back to v1 in one revert."""
    from common.config import load_config
    from common.gitops.promote import open_repo
    from common.gitops.rollback import rollback
    from common.workspace import Workspace

    monkeypatch.setattr("common.gitops.rollback.follow_in_registry", lambda cfg, ws, rolled: None)
    cfg = load_config(overrides=[f"workspace={tmp_path / 'ws'}"], environ={})
    ws = Workspace(cfg.workspace)
    repo = open_repo(cfg, ws)
    first = _release(repo, cfg, "1")
    shas = [_release(repo, cfg, "2", "challenger"), _release(repo, cfg, "2", "champion")]
    rolled = rollback(cfg, ws)
    assert rolled["reverted"] == shas[::-1] and (rolled["from_version"], rolled["to_version"]) == ("2", "1")
    repo.reset()
    assert repo.repo.git.diff(first, "HEAD", "--", "overlays") == ""
    trailers = repo.repo.commit("HEAD").trailers_dict
    assert trailers["Reverts"] == shas[::-1] and trailers["Model-Version"] == ["1"]
    with pytest.raises(ConfigError, match="is the first promotion to staging"):
        rollback(cfg, ws)


def test_https_credentials_reach_git_through_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.redact import redact

    monkeypatch.setenv("GITOPS_USERNAME", "deployer")
    monkeypatch.setenv("GITOPS_TOKEN", "ghp-very-secret-token")
    env = git_env(tmp_path)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    askpass = Path(env["GIT_ASKPASS"])
    assert "ghp-very-secret-token" not in askpass.read_text()
    child = {**os.environ, **env}
    said = [
        subprocess.run(
            [str(askpass), p], capture_output=True, text=True, env=child, check=True
        ).stdout.strip()
        for p in (
            "Username for 'https://git.example.com': ",
            "Password for 'https://deployer@git.example.com': ",
        )
    ]
    assert said == ["deployer", "ghp-very-secret-token"]
    assert redact("fatal: token ghp-very-secret-token refused") == "fatal: token *** refused"


def test_an_unreachable_remote_is_transient_and_says_so(tmp_path: Path) -> None:
    from common.retry import is_transient
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/deploy.git"  # nothing listens there
    with pytest.raises(GitOpsError) as caught:
        DeployRepo(url, tmp_path / "clone", "main")
    assert is_transient(caught.value) and url in str(caught.value)
    assert "failed to connect" in str(caught.value).lower()


def test_refused_credentials_are_a_config_error_naming_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import threading

    from common.errors import EXIT_CONFIG, exit_code_for

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITOPS_TOKEN", "wrong-token-value")
    try:
        with pytest.raises(GitOpsError) as caught:
            DeployRepo(f"http://127.0.0.1:{server.server_address[1]}/deploy.git", tmp_path / "clone", "main")
    finally:
        server.shutdown()
        server.server_close()
    text = str(caught.value)
    assert exit_code_for(caught.value) == EXIT_CONFIG and "GITOPS_TOKEN" in text
    assert "authentication failed" in text.lower() and "wrong-token-value" not in text


def _promoted_repo(tmp_path: Path, overrides: list[str]) -> tuple[Any, Any, str]:
    """A workspace whose default deployment repo has v7 promoted to staging (written as step 01 writes it)."""
    from common.config import load_config
    from common.gitops.layout import Release, base_files, overlay_files
    from common.gitops.promote import open_repo
    from common.workspace import Workspace

    cfg = load_config(overrides=[f"workspace={tmp_path / 'ws'}", *overrides], environ={})
    ws = Workspace(cfg.workspace)
    release = Release("churn-predictor", "7", "champion", "s3://mlops/m/7", "run7", "data-v3")
    repo = open_repo(cfg, ws)
    repo.reset()
    repo.write({**base_files(cfg, release), **overlay_files(cfg, release, "staging", repo.url)})
    sha = repo.commit("deploy(churn-predictor): promote v7 to staging", {"Model-Version": "7"}, AUTHOR)
    repo.push("main")
    return cfg, ws, sha


def test_the_argocd_sync_reaches_the_pushed_revision_or_fails_with_the_last_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import copy
    import json

    import requests

    from common.gitops import sync as gitops_sync
    from common.gitops.argocd import ArgoCD, SyncFailedError
    from tests.unit.test_argocd import DOCS, Replay

    cfg, ws, sha = _promoted_repo(
        tmp_path,
        [
            "gitops.argocd.url=https://argocd.example.com",
            "gitops.argocd.repo_url=https://git.example.com/ml/deploy.git",  # as Argo CD reaches what we push
            "gitops.argocd.poll_s=0.01",
        ],
    )

    def at(doc: str, revision: str) -> dict[str, Any]:
        answer = copy.deepcopy(DOCS[doc])
        answer["status"]["sync"]["revision"] = revision
        answer["status"]["operationState"]["syncResult"]["revision"] = revision
        return answer

    def client(answers: list[tuple[int, dict[str, Any]]]) -> Replay:
        replay = Replay(answers)
        session = requests.Session()
        session.mount("https://", replay)
        monkeypatch.setattr(
            gitops_sync, "argocd_client", lambda cfg: ArgoCD(cfg.gitops.argocd.url, "t", session)
        )
        return replay

    replay = client([(200, DOCS["out_of_sync"]), (200, {}), (200, at("synced_healthy", sha))])
    done = gitops_sync.sync(cfg, ws)
    assert (done["mode"], done["revision"], done["version"], done["sync"]) == ("argocd", sha, "7", "Synced")
    assert json.loads(replay.sent[1].body)["revision"] == "main"  # the branch it follows; done on the SHA
    client([(200, DOCS["out_of_sync"]), (200, {}), (200, at("degraded", sha))])
    with pytest.raises(SyncFailedError) as caught:
        gitops_sync.sync(cfg, ws)
    assert f"the sync of churn-predictor-staging to {sha[:12]} (v7) failed" in str(caught.value)
    assert "health Degraded" in str(caught.value) and "model.pkl not found" in str(caught.value)
    cfg.gitops.timeout_s = 0.2  # Argo CD stays on the old revision
    client([(200, DOCS["out_of_sync"]), (200, {})] + [(200, DOCS["old_revision"])] * 1000)
    with pytest.raises(SyncFailedError) as caught:
        gitops_sync.sync(cfg, ws)
    assert "was not done within 0.2s" in str(caught.value)
    assert f"sync Synced at {DOCS['old_revision']['status']['sync']['revision'][:12]}" in str(caught.value)


def test_a_retry_after_the_revert_was_pushed_never_reverts_a_second_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.errors import ServiceUnavailableError
    from common.gitops.layout import Release, overlay_files
    from common.gitops.promote import open_repo
    from common.retry import call_with_retry
    from uc6_gitops_deployment import uc6_02_sync_argocd as step

    cfg, ws, _ = _promoted_repo(tmp_path, [])
    repo = open_repo(cfg, ws)
    for version in ("8", "9"):
        repo.reset()
        release = Release("churn-predictor", version, "champion", f"s3://mlops/m/{version}", "r", "data-v3")
        repo.write(overlay_files(cfg, release, "staging", repo.url))
        repo.commit(
            f"deploy(churn-predictor): promote v{version} to staging", {"Model-Version": version}, AUTHOR
        )
        repo.push("main")
    calls = []

    def flaky_sync(cfg: Any, ws: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise ServiceUnavailableError("the model registry cannot be reached")
        return {
            "mode": "argocd",
            "url": repo.url,
            "overlay": "overlays/staging",
            "revision": "r",
            "version": "8",
        }

    monkeypatch.setattr(step, "sync", flaky_sync)
    monkeypatch.setattr("common.gitops.rollback.follow_in_registry", lambda cfg, ws, rolled: None)
    done: dict[str, Any] = {}
    result = call_with_retry(
        lambda: step.run_rollback(cfg, ws, done), cfg.retry.model_copy(update={"initial_wait_s": 0}), "t"
    )
    assert len(calls) == 2 and result.outputs["rollback"]["from_version"] == "9"
    repo.reset()
    subjects = [c.summary for c in repo.repo.iter_commits("origin/main")]
    assert subjects[0] == "deploy(churn-predictor): roll back staging from v9 to v8"
    assert sum("roll back" in s for s in subjects) == 1


def test_a_clone_left_dirty_by_a_killed_run_is_reset_to_the_remote(tmp_path: Path) -> None:
    from common.config import load_config

    cfg = load_config(environ={})
    url = _bare(tmp_path / "deploy.git")
    repo = DeployRepo(url, tmp_path / "clone", "main")
    first = _release(repo, cfg, "1")
    _release(repo, cfg, "2")
    repo.reset()
    patch = tmp_path / "clone" / "overlays" / "staging" / "inferenceservice-patch.yaml"
    patch.write_text("half: written\n")  # killed between write and commit, with a revert begun
    repo.repo.index.add([str(patch)])
    repo.repo.git.revert(first, no_commit=True, with_exceptions=False)
    other = DeployRepo(url, tmp_path / "other", "main")
    head = _release(other, cfg, "3")  # the remote moves on meanwhile
    repo.reset()
    assert repo.head() == head and repo.repo.head.commit.hexsha == head
    assert not repo.repo.is_dirty(untracked_files=True)
    assert not (tmp_path / "clone" / ".git" / "REVERT_HEAD").exists()
