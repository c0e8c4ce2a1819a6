"""UC6 as a user runs it, in one workspace after UC1: the champion promoted through the deployment repo (one
commit with its trailers, the overlay and the Application; a second promote makes none), the local server synced
to exactly what git says; a second version promoted, then rolled back by a revert, the server and the alias back
on the first; a push that lost a race to another commit retried until both are on the remote. Refused versions
and branch mode each in a repo of their own. The fixtures play the story once; the tests read it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Prober, run_script, serving_port, summary_of

MODEL = "churn-predictor"
PROMOTE = "uc6_gitops_deployment/uc6_01_promote_model_git.py"
SYNC = "uc6_gitops_deployment/uc6_02_sync_argocd.py"
PIPELINE = "uc6_gitops_deployment/run_pipeline.py"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _run(ws: Path, script: str, *args: str, code: int = 0) -> dict[str, Any]:
    proc = run_script(script, *args, workspace=ws)
    assert proc.returncode == code, proc.stderr[-3000:]
    return {**summary_of(proc), "stderr": proc.stderr}


def _client(ws: Path) -> Any:
    from common.model.tracking import client_for

    return client_for(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")


def _serving(ws: Path) -> dict[str, Any]:
    url = f"http://127.0.0.1:{serving_port(ws)}/v1/models/{MODEL}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _clone(promoted: dict[str, Any], name: str) -> Path:
    """A colleague's clone of the deployment repo."""
    folder = promoted["ws"].parent / name
    subprocess.run(["git", "clone", "-q", str(promoted["repo"]), str(folder)], check=True)
    return folder


def _register_again(ws: Path, alias: str) -> str:
    """Version 1's artifact registered as a new version (with its gate tags), given `alias`."""
    client = _client(ws)
    v1 = client.get_model_version(MODEL, "1")
    new = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL, alias, new.version)
    return str(new.version)


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("gitops") / "ws"
    proc = run_script("uc1_churn_prediction/run_pipeline.py", workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = _run(ws, PROMOTE)
    again = _run(ws, PROMOTE)
    synced = _run(ws, SYNC)
    return {"ws": ws, "repo": ws / "gitops" / "deploy.git", "first": first, "again": again, "synced": synced}


def test_promote_commits_once_with_trailers_the_overlay_and_the_application(promoted: dict[str, Any]) -> None:
    repo, first = promoted["repo"], promoted["first"]["outputs"]
    assert first["changed"] is True and first["version"] == "1"
    assert _git(repo, "rev-list", "--count", "main") == "1"
    assert _git(repo, "log", "-1", "--format=%s", "main") == "deploy(churn-predictor): promote v1 to staging"
    trailers = _git(repo, "log", "-1", "--format=%(trailers:only,unfold)", "main").splitlines()
    run_id = _client(promoted["ws"]).get_model_version(MODEL, "1").run_id
    assert trailers == [
        f"Model-Name: {MODEL}",
        "Model-Version: 1",
        f"MLflow-Run-Id: {run_id}",
        "Data-Version: data-v1",
        "Environment: staging",
        "Gate: passed",
    ]
    files = set(_git(repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    assert files == {
        "base/kustomization.yaml",
        "base/inferenceservice.yaml",
        "overlays/staging/kustomization.yaml",
        "overlays/staging/inferenceservice-patch.yaml",
        f"argocd/{MODEL}-staging.yaml",
    }
    app = yaml.safe_load(_git(repo, "show", f"main:argocd/{MODEL}-staging.yaml"))
    assert app["spec"]["source"] == {
        "repoURL": repo.as_uri(),
        "targetRevision": "main",
        "path": "overlays/staging",
    }
    again = promoted["again"]["outputs"]
    assert again["changed"] is False and again["commit"] == first["commit"]
    assert "already what staging deploys: no commit" in promoted["again"]["stderr"]


def test_the_local_sync_serves_exactly_the_version_in_git(promoted: dict[str, Any]) -> None:
    synced = promoted["synced"]["outputs"]
    head = _git(promoted["repo"], "rev-parse", "main")
    assert (synced["sync"], synced["health"], synced["revision"], synced["version"]) == (
        "Synced",
        "Healthy",
        head,
        "1",
    )
    patch = yaml.safe_load(
        _git(promoted["repo"], "show", "main:overlays/staging/inferenceservice-patch.yaml")
    )
    served = _serving(promoted["ws"])
    assert served["version"] == patch["metadata"]["annotations"]["mlops/model-version"] == "1"
    assert served["ready"] is True
    stored = _client(promoted["ws"]).get_model_version_download_uri(MODEL, "1")
    assert patch["spec"]["predictor"]["model"]["storageUri"] == stored == synced["storage_uri"]


@pytest.fixture(scope="module")
def rolled_back(promoted: dict[str, Any]) -> dict[str, Any]:
    ws = promoted["ws"]
    version = _register_again(ws, "champion")
    with Prober(f"http://127.0.0.1:{serving_port(ws)}") as probe:  # users call on through both switches
        pipeline = _run(ws, PIPELINE)
        serving_after_promote = _serving(ws)["version"]
        rollback = _run(ws, SYNC, "--rollback")
    return {
        "probe": probe,
        "version": version,
        "pipeline": pipeline,
        "served_v2": serving_after_promote,
        "rollback": rollback,
        "status": _run(ws, SYNC, "--status"),
        "again": _run(ws, SYNC, "--rollback", code=2),
    }


def test_a_second_version_promoted_then_rolled_back_by_a_revert(
    promoted: dict[str, Any], rolled_back: dict[str, Any]
) -> None:
    ws, repo = promoted["ws"], promoted["repo"]
    assert rolled_back["version"] == "2" and rolled_back["served_v2"] == "2"
    rolled_back["probe"].assert_no_outage()  # the reconcile's switch to v2 and the rollback's to v1
    assert rolled_back["probe"].versions == {"1", "2"}
    assert [s["status"] for s in rolled_back["pipeline"]["steps"]] == ["ok", "ok"]
    done = rolled_back["rollback"]["outputs"]
    assert (done["rollback"]["from_version"], done["rollback"]["to_version"]) == ("2", "1")
    assert done["rollback"]["reverted"] == [_git(repo, "rev-parse", "main~1")]
    subjects = _git(repo, "log", "--format=%s", "main").splitlines()
    assert subjects[:2] == [
        "deploy(churn-predictor): roll back staging from v2 to v1",
        "deploy(churn-predictor): promote v2 to staging",
    ]
    promotion = _git(repo, "rev-parse", "main~1")
    assert f"Reverts: {promotion}" in _git(repo, "log", "-1", "--format=%(trailers)", "main")
    assert _git(repo, "diff", "main~2", "main", "--", "overlays") == ""  # the overlay is v1's again
    assert _serving(ws)["version"] == "1" and done["version"] == "1"
    client = _client(ws)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert (
        client.get_model_version(MODEL, "2").tags["rolled_back"]
        == f"staging: promotion {promotion[:12]} reverted"
    )


def test_status_says_what_git_deploys_and_what_serves(rolled_back: dict[str, Any]) -> None:
    status = rolled_back["status"]["outputs"]
    assert (status["version"], status["sync"], status["health"], status["in_sync"]) == (
        "1",
        "Synced",
        "Healthy",
        True,
    )
    assert "roll back staging from v2 to v1" in status["history"][0]


def test_the_first_promotion_is_not_rolled_back(rolled_back: dict[str, Any]) -> None:
    again = rolled_back["again"]
    assert again["exit_code"] == 2 and "is the first promotion to staging" in again["error"]
    assert "v1 stays deployed" in again["error"]


def test_a_push_that_lost_a_race_is_rebuilt_and_retried(
    promoted: dict[str, Any], rolled_back: dict[str, Any]
) -> None:
    """A post-commit hook in the step's clone pushes another commit to the remote between render and push."""
    ws, repo = promoted["ws"], promoted["repo"]
    other = _clone(promoted, "other-clone")
    hook = ws / "gitops" / "checkout" / ".git" / "hooks" / "post-commit"
    hook.write_text(
        "#!/bin/sh\n"
        "unset GIT_INDEX_FILE GIT_DIR GIT_WORK_TREE\n"  # GitPython runs hooks with its own index
        f'[ -e "{other}/done" ] && exit 0\n'
        f'touch "{other}/done"\n'
        f'cd "{other}" && echo "on call: the data team" > OWNERS && git add OWNERS && '
        'git -c user.name=colleague -c user.email=c@example.com commit -qm "docs: owners" && git push -q origin main\n'
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    try:
        proc = run_script(PROMOTE, "--set", "gitops.environment=production", workspace=ws)
    finally:
        hook.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = summary_of(proc)["outputs"]
    assert outputs["attempts"] == 2 and outputs["changed"] is True
    assert "attempt 1/3" in proc.stderr and "rejected" in proc.stderr
    subjects = _git(repo, "log", "--format=%s", "main").splitlines()
    assert subjects[:2] == ["deploy(churn-predictor): promote v1 to production", "docs: owners"]
    assert _git(repo, "rev-parse", "main") == outputs["commit"]


def test_a_version_without_a_deployable_alias_or_gate_pass_is_refused(promoted: dict[str, Any]) -> None:
    ws = promoted["ws"]
    client = _client(ws)
    v1 = client.get_model_version(MODEL, "1")
    bare = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags).version
    failed = client.create_model_version(
        MODEL, v1.source, run_id=v1.run_id, tags={**v1.tags, "gate.passed": "false"}
    )
    client.set_registered_model_alias(MODEL, "challenger", failed.version)
    head = _git(promoted["repo"], "rev-parse", "main")
    no_alias = _run(ws, PROMOTE, "--version", str(bare), code=2)
    assert f"version {bare} is not deployed" in no_alias["error"]
    assert "neither the champion nor the challenger alias" in no_alias["error"]
    gate = _run(ws, PROMOTE, "--alias", "challenger", code=2)
    assert f"version {failed.version} is not deployed: it did not pass the evaluation gate" in gate["error"]
    assert _git(promoted["repo"], "rev-parse", "main") == head  # nothing pushed


def test_branch_mode_pushes_a_review_branch_and_the_sync_leaves_it(promoted: dict[str, Any]) -> None:
    ws = promoted["ws"]
    review = ws.parent / "review.git"
    subprocess.run(["git", "init", "-q", "--bare", str(review)], check=True)
    url = ["--set", f"gitops.repo_url={review.as_uri()}", "--set", "gitops.push=branch"]
    pushed = _run(ws, PROMOTE, *url)["outputs"]
    branch = f"promote/{MODEL}-v{pushed['version']}-staging"
    assert pushed["ref"] == branch and _git(review, "rev-parse", branch) == pushed["commit"]
    assert _git(review, "branch", "--list", "main") == ""  # nothing on the branch Argo CD follows
    again = _run(ws, PROMOTE, *url)["outputs"]  # the nightly run again: the review branch is left as it is
    assert again["changed"] is False and _git(review, "rev-parse", branch) == pushed["commit"]
    skipped = _run(ws, SYNC, *url)
    assert skipped["status"] == "skipped" and "waits for review" in skipped["outputs"]["reason"]


def test_a_manifest_the_registry_does_not_back_fails_the_sync_and_leaves_the_server(
    promoted: dict[str, Any], rolled_back: dict[str, Any]
) -> None:
    """Someone edits the overlay by hand: its storageUri is not where the registry keeps the version."""
    ws = promoted["ws"]
    editor = _clone(promoted, "editor-clone")
    patch = editor / "overlays" / "staging" / "inferenceservice-patch.yaml"
    body = yaml.safe_load(patch.read_text())
    body["spec"]["predictor"]["model"]["storageUri"] = "s3://elsewhere/model"
    patch.write_text(yaml.safe_dump(body))
    commit = ["git", "-C", str(editor), "-c", "user.name=someone", "-c", "user.email=s@example.com", "commit"]
    subprocess.run([*commit, "-qam", "hand edit"], check=True)
    subprocess.run(["git", "-C", str(editor), "push", "-q", "origin", "main"], check=True)
    failed = _run(ws, SYNC, code=1)
    assert "the sync of churn-predictor-staging" in failed["error"] and "failed" in failed["error"]
    assert "OutOfSync" in failed["error"] and "Degraded" in failed["error"]
    assert "storageUri s3://elsewhere/model is not where version 1 is" in failed["error"]
    assert _serving(ws)["version"] == "1"  # what served before still serves
    status = _run(ws, SYNC, "--status")["outputs"]
    assert status["in_sync"] is False and status["health"] == "Degraded"


def test_kserve_serving_without_argo_cd_syncs_nothing_and_says_why(promoted: dict[str, Any]) -> None:
    skipped = _run(promoted["ws"], SYNC, "--set", "serving.mode=kserve")
    assert skipped["status"] == "skipped" and "gitops.argocd.url is empty" in skipped["outputs"]["reason"]


def test_step_06_in_the_foreground_becomes_the_server_as_a_container_runs_it(
    promoted: dict[str, Any],
) -> None:
    """deploy/k8s's Deployment runs step 06 --foreground: the server must answer as that very process."""
    import sys
    import time

    from tests.conftest import E2E_ENV, ROOT, free_port

    port = free_port()
    env = {**os.environ, **E2E_ENV, "MLOPS_WORKSPACE": str(promoted["ws"]), "MLOPS__SERVING__PORT": str(port)}
    env.pop("MLFLOW_TRACKING_URI", None)
    step = [sys.executable, "uc1_churn_prediction/uc1_06_model_serving_kserve.py", "--foreground"]
    proc = subprocess.Popen(step, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        about: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and not about.get("ready"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{MODEL}", timeout=2) as resp:
                    about = json.loads(resp.read())
            except OSError:
                time.sleep(0.5)
        assert about.get("ready") and about["pid"] == proc.pid, about
        champion = _client(promoted["ws"]).get_model_version_by_alias(MODEL, "champion").version
        assert about["version"] == str(champion)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_rollback_killed_after_its_push_is_finished_by_the_rerun_not_repeated(
    promoted: dict[str, Any],
) -> None:
    """A kill after the revert was pushed, before it was served: the rerun of --rollback serves that rollback
    (one revert in git, not two), and the intent is gone."""
    ws, repo = promoted["ws"], promoted["repo"]
    qa = ["--set", "gitops.environment=qa"]
    first = _register_again(ws, "champion")
    _run(ws, PROMOTE, *qa)
    second = _register_again(ws, "champion")
    _run(ws, PROMOTE, *qa)
    assert _run(ws, SYNC, *qa)["outputs"]["version"] == second
    killed = run_script(SYNC, "--rollback", *qa, workspace=ws, env={"MLOPS_KILL_AT": "uc6.rollback.pushed"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    head = _git(repo, "rev-parse", "main")
    assert _serving(ws)["version"] == second  # pushed, not served
    again = _run(ws, SYNC, "--rollback", *qa)
    assert "finishing the rollback" in again["stderr"]
    assert _git(repo, "rev-parse", "main") == head  # no second revert
    assert again["outputs"]["rollback"]["to_version"] == first and _serving(ws)["version"] == first
    assert str(_client(ws).get_model_version_by_alias(MODEL, "champion").version) == first
    assert not list((ws / "state" / "intents").glob("*.json"))
