"""Rollback the GitOps way: `git revert` of the environment's last promotion that is not reverted yet (with the
same-version updates made on top of it), pushed like a promotion (Argo CD refuses its own rollback while auto-sync
is on). The registry follows first: the alias that named the reverted version moves back to the version git will
deploy, so a rollback whose push fails is finished by the next promotion rather than undone by it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from common import intent
from common.errors import ConfigError, MissingInputError
from common.gitops.layout import PATCH_FILE, Release, overlay_path
from common.gitops.promote import deployed, open_repo, release_trailers
from common.gitops.repo import DeployRepo, GitOpsError, PushRaceError, subject
from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from git import Commit

log = logging.getLogger(__name__)


def intent_name(environment: str) -> str:
    """The intent of a pushed rollback of `environment` not yet served (common.intent)."""
    return f"uc6_rollback_{environment}"


def to_revert(repo: DeployRepo, environment: str) -> tuple[list[Commit], Release, Release]:
    """The commits to revert, newest first: back to the newest not-reverted one that changed the environment's
    version (an update of the same version on top of it goes too); the release they brought and the one before."""
    reverted: set[str] = set()
    chosen: list[Commit] = []
    for commit in repo.history(overlay_path(environment, PATCH_FILE)):
        trailers = commit.trailers_dict
        if "Reverts" in trailers:
            reverted.update(trailers["Reverts"])
            continue
        if commit.hexsha in reverted:
            continue
        chosen.append(commit)
        now = deployed(repo, commit.hexsha, environment)
        before = deployed(repo, f"{commit.hexsha}^", environment) if commit.parents else None
        if before is None:
            version = now[0].version if now else "?"
            raise ConfigError(
                f"{commit.hexsha[:12]} ({subject(commit)}) is the first promotion to {environment}: there is no "
                f"earlier version to roll back to, so v{version} stays deployed"
            )
        if now is None or now[0].version != before[0].version:
            latest = deployed(repo, chosen[0].hexsha, environment)
            return chosen, (latest or now or before)[0], before[0]
    raise MissingInputError(
        f"nothing was promoted to {environment} in {repo.url}: there is nothing to roll back"
    )


def rollback(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    """Revert, commit with trailers of the version deployed again, push (rebuilt on a moved head); in branch
    mode to a review branch, leaving the registry alone until it is merged."""
    g, env = cfg.gitops, cfg.gitops.environment
    repo = open_repo(cfg, ws)
    last: PushRaceError | None = None
    for attempt in range(1, g.push_attempts + 1):
        repo.reset()
        commits, undone, back = to_revert(repo, env)
        sha = _revert(repo, commits, undone, back, env, (g.author_name, g.author_email))
        rolled: dict[str, Any] = {
            "commit": sha,
            "reverted": [c.hexsha for c in commits],
            "model": back.model,
            "from_version": undone.version,
            "to_version": back.version,
            "ref": g.branch if g.push == "direct" else f"rollback/{back.model}-v{undone.version}-{env}",
        }
        if g.push == "direct":
            follow_in_registry(cfg, ws, rolled)
        try:
            repo.push(rolled["ref"], force=g.push == "branch")
        except PushRaceError as exc:
            last = exc
            log.warning("attempt %d/%d: %s; reverting again on the new head", attempt, g.push_attempts, exc)
            continue
        # pushed: from here a rerun of --rollback finishes this one (serves it) and never reverts one more
        intent.record(ws, intent_name(env), rolled)
        intent.boundary("uc6.rollback.pushed")
        log.info("rolled %s back from v%s to v%s: %s", env, undone.version, back.version, sha[:12])
        return rolled
    raise GitOpsError(f"gave up after {g.push_attempts} attempts: {last}")


def _revert(
    repo: DeployRepo, commits: list[Commit], undone: Release, back: Release, env: str, author: tuple[str, str]
) -> str:
    from git.exc import GitCommandError

    try:
        repo.repo.git.revert(*[c.hexsha for c in commits], no_commit=True)
    except GitCommandError as exc:
        repo.repo.git.revert("--abort")
        raise GitOpsError(
            f"{commits[-1].hexsha[:12]} cannot be reverted cleanly: {exc.stderr.strip()}"
        ) from exc
    title = f"deploy({back.model}): roll back {env} from v{undone.version} to v{back.version}"
    body = "\n".join(f'Revert "{subject(c)}"\nThis reverts commit {c.hexsha}.' for c in commits)
    trailers = [*release_trailers(back, env).items(), *(("Reverts", c.hexsha) for c in commits)]
    return repo.commit(f"{title}\n\n{body}", trailers, author)


def follow_in_registry(cfg: Settings, ws: Workspace, rolled: dict[str, Any]) -> None:
    """The reverted version is tagged, and every alias of the lifecycle that named it (the promoted one, and those
    that serve, score, judge and test: serving, batch, drift, fairness and the canary's stable alias) names the
    version deployed again: without this the next promotion would deploy the reverted version again, and the
    batch scores or UC2 would go on with it. The candidate alias stays (a `rolled_back` version is not canaried
    again). Idempotent."""
    from common.model.tracking import client_for, tracking_uri

    model, undone, back = rolled["model"], rolled["from_version"], rolled["to_version"]
    client = client_for(tracking_uri(cfg, ws))
    note = f"{cfg.gitops.environment}: promotion {rolled['reverted'][-1][:12]} reverted"
    client.set_model_version_tag(model, undone, "rolled_back", note)
    aliases = client.get_registered_model(model).aliases
    for alias in follow_aliases(cfg):
        if str(aliases.get(alias)) == undone:
            client.set_registered_model_alias(model, alias, back)
            log.info("the %s alias moves back to v%s with the deployment", alias, back)


def follow_aliases(cfg: Settings) -> list[str]:
    """The aliases a rollback moves back, each once, gitops.alias first."""
    named = [
        cfg.gitops.alias,
        cfg.serving.alias,
        cfg.batch.alias,
        cfg.drift.alias,
        cfg.fairness.alias,
        cfg.ab_testing.stable_alias,
    ]
    return list(dict.fromkeys(named))
