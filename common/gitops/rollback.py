"""Rollback the GitOps way: `git revert` of the environment's last promotion that is not reverted yet, pushed like
a promotion (Argo CD refuses its own rollback while auto-sync is on). The registry follows: the alias that named
the reverted version moves back to the version git now deploys, and the reverted one is tagged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError, MissingInputError
from common.gitops.layout import PATCH_FILE, Release, overlay_path
from common.gitops.promote import deployed, open_repo, release_trailers
from common.gitops.repo import DeployRepo, GitOpsError, PushRaceError
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from git import Commit

log = logging.getLogger(__name__)


def last_promotion(repo: DeployRepo, environment: str) -> Commit:
    """The newest commit that changed the environment's release and was not reverted since."""
    reverted: set[str] = set()
    for commit in repo.history(overlay_path(environment, PATCH_FILE)):
        trailers = commit.trailers_dict
        if "Reverts" in trailers:
            reverted.update(trailers["Reverts"])
        elif commit.hexsha not in reverted:
            return commit
    raise MissingInputError(
        f"nothing was promoted to {environment} in {repo.url}: there is nothing to roll back"
    )


def rollback(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """Revert, commit with trailers of the version deployed again, push (rebuilt on a moved head)."""
    g, env = cfg.gitops, cfg.gitops.environment
    repo = open_repo(cfg, ws)
    last: PushRaceError | None = None
    for attempt in range(1, g.push_attempts + 1):
        repo.reset()
        target = last_promotion(repo, env)
        undone, back = _versions(repo, target, env)
        sha = _revert(repo, target, undone, back, env, (g.author_name, g.author_email))
        try:
            repo.push(g.branch)
        except PushRaceError as exc:
            last = exc
            log.warning("attempt %d/%d: %s; reverting again on the new head", attempt, g.push_attempts, exc)
            continue
        log.info("rolled %s back from v%s to v%s: %s", env, undone.version, back.version, sha[:12])
        _follow_in_registry(cfg, ws, undone, back, env, sha)
        return {
            "commit": sha,
            "reverted": target.hexsha,
            "from_version": undone.version,
            "to_version": back.version,
        }
    raise GitOpsError(f"gave up after {g.push_attempts} attempts: {last}")


def _versions(repo: DeployRepo, target: Commit, env: str) -> tuple[Release, Release]:
    """The release the target commit brought and the one before it."""
    now = deployed(repo, target.hexsha, env)
    before = deployed(repo, f"{target.hexsha}^", env) if target.parents else None
    if now is None or before is None:
        version = now[0].version if now else "?"
        raise ConfigError(
            f"{target.hexsha[:12]} ({target.summary}) is the first promotion to {env}: there is no earlier "
            f"version to roll back to, so v{version} stays deployed"
        )
    return now[0], before[0]


def _revert(
    repo: DeployRepo, target: Commit, undone: Release, back: Release, env: str, author: tuple[str, str]
) -> str:
    from git.exc import GitCommandError

    try:
        repo.repo.git.revert(target.hexsha, no_commit=True)
    except GitCommandError as exc:
        repo.repo.git.revert("--abort")
        raise GitOpsError(f"{target.hexsha[:12]} cannot be reverted cleanly: {exc.stderr.strip()}") from exc
    subject = f"deploy({back.model}): roll back {env} from v{undone.version} to v{back.version}"
    body = f'Revert "{target.summary}"\n\nThis reverts commit {target.hexsha}.'
    trailers = {**release_trailers(back, env), "Reverts": target.hexsha}
    return repo.commit(f"{subject}\n\n{body}", trailers, author)


def _follow_in_registry(
    cfg: Settings, ws: Workspace, undone: Release, back: Release, env: str, sha: str
) -> None:
    """Without this the next promotion of the alias would deploy the reverted version again."""
    from common.model.registry import client_for, tracking_uri

    client = client_for(tracking_uri(cfg, ws))
    client.set_model_version_tag(undone.model, undone.version, "rolled_back", f"{env}: reverted by {sha}")
    aliases = client.get_registered_model(undone.model).aliases
    if str(aliases.get(cfg.gitops.alias)) == undone.version:
        client.set_registered_model_alias(undone.model, cfg.gitops.alias, back.version)
        log.info("the %s alias moves back to v%s with the deployment", cfg.gitops.alias, back.version)
