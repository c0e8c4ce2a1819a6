"""Promotion as a commit: the release of a registered version (refused unless the gate passed it and it holds the
champion or challenger alias), its files written into the deployment repo, committed with trailers that tell
what is deployed and why, and pushed; a push that lost a race is rebuilt on the new head and retried."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.gitops.layout import (
    KUSTOMIZATION,
    PATCH_FILE,
    Release,
    base_files,
    base_path,
    overlay_files,
    overlay_path,
    release_of,
    render,
)
from common.gitops.repo import DeployRepo, GitOpsError, PushRaceError, local_remote
from common.model.version import ModelVersion
from common.settings import Settings
from common.workspace import Workspace

log = logging.getLogger(__name__)
DEPLOYABLE = ("champion", "challenger")


class RefusedVersionError(ConfigError):
    """The version may not be deployed; the message names it and why."""


def open_repo(cfg: Settings, ws: Workspace) -> DeployRepo:
    folder = ws.dir("gitops")
    url = cfg.gitops.repo_url or local_remote(folder / "deploy.git")
    return DeployRepo(url, folder / "checkout", cfg.gitops.branch)


def release_for(cfg: Settings, ws: Workspace, ref: str) -> tuple[Release, dict[str, str]]:
    """The release of version or alias `ref`, and the trailers its commit carries; refused versions raise."""
    from common.model.version import require

    found = require(cfg, ws, ref)
    refusal = _refusal(found)
    if refusal:
        raise RefusedVersionError(f"{found.name} version {found.version} is not deployed: {refusal}")
    release = Release(
        model=found.name,
        version=found.version,
        alias=ref if ref in DEPLOYABLE else next(a for a in DEPLOYABLE if a in found.aliases),
        storage_uri=found.source,
        run_id=found.run_id,
        data_version=found.trained_on(),
    )
    tags = found.tags
    gate = "passed" if tags.get("gate.promoted") == "true" else "passed (challenger only)"
    trailers = {"Gate": gate, **({"Fairness": tags["fairness"]} if tags.get("fairness") else {})}
    return release, trailers


def _refusal(found: ModelVersion) -> str:
    tags = found.tags
    if tags.get("gate.passed") != "true":
        return "it did not pass the evaluation gate"
    if not set(DEPLOYABLE) & set(found.aliases):
        return f"it holds neither the champion nor the challenger alias (aliases: {', '.join(found.aliases) or 'none'})"
    if tags.get("rejected"):
        return f"the A/B experiment rejected it ({tags['rejected']})"
    if tags.get("fairness") == "failed":
        return "it failed the fairness thresholds (tag fairness=failed)"
    return ""


def release_trailers(release: Release, environment: str) -> dict[str, str]:
    return {
        "Model-Name": release.model,
        "Model-Version": release.version,
        "MLflow-Run-Id": release.run_id,
        "Data-Version": release.data_version,
        "Environment": environment,
    }


def deployed(repo: DeployRepo, revision: str, environment: str) -> tuple[Release, dict[str, Any]] | None:
    """What the overlay of `environment` deploys at `revision`, or None when it has none."""
    paths = [
        base_path("inferenceservice.yaml"),
        overlay_path(environment, KUSTOMIZATION),
        overlay_path(environment, PATCH_FILE),
    ]
    files = {p: repo.read(revision, p) for p in paths}
    if any(text is None for text in files.values()):
        return None
    isvc = render({k: v for k, v in files.items() if v is not None}, environment)
    return release_of(isvc), isvc


def promote(cfg: Settings, ws: Workspace, release: Release, gate: dict[str, str]) -> dict[str, Any]:
    """Commit and push the release to the environment; returns the commit, whether anything changed, the ref
    pushed and the attempts it took."""
    env, g = cfg.gitops.environment, cfg.gitops
    repo = open_repo(cfg, ws)
    ref = g.branch if g.push == "direct" else f"promote/{release.model}-v{release.version}-{env}"
    last: PushRaceError | None = None
    for attempt in range(1, g.push_attempts + 1):
        repo.reset()
        head = repo.head()
        before = deployed(repo, head, env) if head else None
        commits = _commit(cfg, repo, release, {**release_trailers(release, env), **gate}, before)
        if not commits:
            log.info("%s v%s is already what %s deploys: no commit", release.model, release.version, env)
            return {"changed": False, "commit": repo.head(), "ref": ref, "attempts": attempt, "url": repo.url}
        if g.push == "branch" and repo.remote_tree(ref) == repo.repo.head.commit.tree.hexsha:
            log.info("the review branch %s holds this change already: nothing pushed", ref)
            return {
                "changed": False,
                "commit": repo.remote_head(ref),
                "ref": ref,
                "attempts": attempt,
                "url": repo.url,
            }
        try:
            repo.push(ref, force=g.push == "branch")
        except PushRaceError as exc:
            last = exc
            log.warning("attempt %d/%d: %s; rebuilding on the new head", attempt, g.push_attempts, exc)
            continue
        log.info("pushed %s to %s %s (%d commit(s))", commits[-1][:12], repo.url, ref, len(commits))
        return {"changed": True, "commit": commits[-1], "ref": ref, "attempts": attempt, "url": repo.url}
    raise GitOpsError(f"gave up after {g.push_attempts} attempts: {last}")


def _commit(
    cfg: Settings,
    repo: DeployRepo,
    release: Release,
    trailers: dict[str, str],
    before: tuple[Release, dict[str, Any]] | None,
) -> list[str]:
    """A base change that other environments share is a commit of its own; the environment's files are the
    promotion commit (with the base, when the repo has none yet)."""
    env, author = cfg.gitops.environment, (cfg.gitops.author_name, cfg.gitops.author_email)
    commits = []
    had_base = (Path(repo.folder) / base_path(KUSTOMIZATION)).exists()
    base_changed = bool(repo.write(base_files(cfg, release)))
    if base_changed and had_base:
        subject = f"deploy({release.model}): update the base (every environment)"
        commits.append(repo.commit(subject, {"Model-Name": release.model}, author))
    if repo.write(overlay_files(cfg, release, env, repo.url)) or (base_changed and not had_base):
        same = before is not None and before[0].version == release.version
        verb = f"update v{release.version} in" if same else f"promote v{release.version} to"
        body = (
            f"Model {release.model} version {release.version} ({release.alias}), MLflow run {release.run_id}, "
            f"trained on {release.data_version}, to namespace {cfg.gitops.namespace_of(env)}."
        )
        commits.append(repo.commit(f"deploy({release.model}): {verb} {env}\n\n{body}", trailers, author))
    return commits
