"""The deployment repo through GitPython: a working clone in the workspace, reset to the remote branch before each
change, commits with trailers, pushes whose every ref result is checked (raise_if_error alone misses a
rejection). Credentials come from the environment only (GITOPS_USERNAME / GITOPS_TOKEN for https,
GITOPS_SSH_KEY for ssh) and never reach a log or the remote's URL."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import EXIT_CONFIG, MlopsError
from common.redact import register_secret
from common.workspace import write_text

if TYPE_CHECKING:
    from git import Commit, Repo

log = logging.getLogger(__name__)
# a ref the remote moved under us: fetch, rebuild on the new head and push again
RACE_WORDS = ("fetch first", "non-fast-forward", "stale info", "failed to update ref", "cannot lock ref")


def subject(commit: Any) -> str:
    """A commit's first line: GitPython's summary is bytes when it could not decode the message."""
    line = commit.summary
    return line.decode("utf-8", "replace") if isinstance(line, bytes) else line


class GitOpsError(MlopsError):
    """A git operation on the deployment repo failed; the message says what git said."""


class PushRaceError(GitOpsError):
    """The remote branch moved since the fetch (non-fast-forward): retried on the new head."""


class GitUnreachableError(GitOpsError):
    """The remote cannot be reached now: transient, so the step is retried."""

    transient = True


class GitAuthError(GitOpsError):
    """The remote refused our credentials: a config problem (exit 2), not retried."""

    exit_code = EXIT_CONFIG


UNREACHABLE_WORDS = (
    "could not resolve host",
    "couldn't connect to server",
    "failed to connect",
    "connection refused",
    "timed out",
    "connection reset",
    "the requested url returned error: 5",
)
AUTH_WORDS = (
    "authentication failed",
    "permission denied",
    "could not read username",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
)


def local_remote(folder: Path) -> str:
    """The embedded default: a bare repo in the workspace, created on first use, reached over file://."""
    from git import Repo

    if not (folder / "HEAD").exists():
        folder.mkdir(parents=True, exist_ok=True)
        Repo.init(folder, bare=True, initial_branch="main")
        log.info("created the deployment repo %s", folder)
    return folder.as_uri()


def git_env(folder: Path) -> dict[str, str]:
    """The environment git runs with: never a prompt (cron), and credentials from our environment only."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    token = os.environ.get("GITOPS_TOKEN", "")
    if token:
        register_secret(token)
        askpass = folder / "askpass.sh"  # holds no secret: it echoes the variables git's child inherits
        if not askpass.exists():
            write_text(
                askpass,
                '#!/bin/sh\ncase "$1" in Username*) echo "${GITOPS_USERNAME:-git}";; '
                '*) echo "$GITOPS_TOKEN";; esac\n',
            )
            askpass.chmod(stat.S_IRWXU)
        env["GIT_ASKPASS"] = str(askpass)
    key = os.environ.get("GITOPS_SSH_KEY", "")
    if key:
        env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes"
    return env


def clear_stale_locks(git_dir: Path) -> list[Path]:
    """Remove the lock files a killed git left in the clone (index.lock, HEAD.lock, a ref's lock), each older
    than this process. The clone is only touched under UC6's run lock, which this process holds: no git of ours
    can be running, so a lock from before it started is stale. Returns what was removed."""
    import psutil

    if not git_dir.is_dir():
        return []
    started = psutil.Process().create_time()
    stale = [p for p in git_dir.rglob("*.lock") if p.is_file() and p.stat().st_mtime < started]
    for path in stale:
        path.unlink(missing_ok=True)
        log.warning(
            "removed %s, a lock a killed git left (older than this run, which holds UC6's lock)", path
        )
    return stale


class DeployRepo:
    """A working clone of the deployment repo at `folder`, following `branch` of `url`."""

    def __init__(self, url: str, folder: Path, branch: str) -> None:
        self.url, self.folder, self.branch = url, folder, branch
        self.repo = self._open()

    def _open(self) -> Repo:
        from git import Repo
        from git.exc import InvalidGitRepositoryError, NoSuchPathError

        clear_stale_locks(self.folder / ".git")
        try:
            repo = Repo(self.folder)
        except (InvalidGitRepositoryError, NoSuchPathError):
            self.folder.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(self.folder, initial_branch=self.branch)
        repo.git.update_environment(**git_env(self.folder.parent))
        if "origin" in [r.name for r in repo.remotes]:
            repo.remotes.origin.set_url(self.url)
        else:
            repo.create_remote("origin", self.url)
        self._fetch(repo)
        return repo

    def _fetch(self, repo: Repo) -> None:
        from git.exc import GitCommandError

        try:
            repo.remotes.origin.fetch(prune=True)
        except GitCommandError as exc:
            raise failure(f"cannot fetch the deployment repo {self.url}", _said(exc)) from exc

    @property
    def remote_ref(self) -> str:
        return f"origin/{self.branch}"

    def head(self) -> str | None:
        """The remote branch's commit, or None while the repo is empty."""
        return self.remote_head(self.branch)

    def remote_head(self, branch: str) -> str | None:
        """A remote branch's commit, or None when nothing was pushed to it."""
        return self._rev(f"refs/remotes/origin/{branch}^{{commit}}")

    def remote_tree(self, branch: str) -> str | None:
        """The tree of a remote branch (None when there is no such branch)."""
        return self._rev(f"refs/remotes/origin/{branch}^{{tree}}")

    def _rev(self, spec: str) -> str | None:
        from git.exc import GitCommandError

        try:
            return self.repo.git.rev_parse("--verify", "--quiet", spec)
        except GitCommandError:  # no such ref
            return None

    def reset(self) -> None:
        """Fetch, then make the work tree exactly the remote branch (or empty, for a new repo), whatever a run
        killed half-way left in it: staged files, a revert in progress."""
        from git.exc import GitCommandError

        self._fetch(self.repo)
        head = self.head()
        with contextlib.suppress(GitCommandError):  # no revert in progress
            self.repo.git.revert("--quit")
        if head is None:  # an unborn branch with an empty index: the first commit has no parent
            self.repo.git.update_ref("-d", f"refs/heads/{self.branch}")
            self.repo.git.symbolic_ref("HEAD", f"refs/heads/{self.branch}")
            self.repo.git.read_tree("--empty")
        else:
            self.repo.git.checkout("-f", "-B", self.branch, head)
            self.repo.git.reset("--hard", head)
        self.repo.git.clean("-fdx")

    def write(self, files: dict[str, str]) -> list[str]:
        """Write `files` into the work tree and stage them; returns those that changed."""
        changed = []
        for rel, text in files.items():
            path = self.folder / rel
            if path.exists() and path.read_text() == text:
                continue
            write_text(path, text)
            changed.append(rel)
        if changed:
            self.repo.index.add(changed)
        return changed

    def read(self, revision: str, path: str) -> str | None:
        """A file's text at a revision, or None when it is not there."""
        commit = self.repo.commit(revision)
        try:
            return commit.tree[path].data_stream.read().decode()
        except KeyError:
            return None

    def commit(
        self, message: str, trailers: dict[str, str] | list[tuple[str, str]], author: tuple[str, str]
    ) -> str:
        from git import Actor

        actor = Actor(*author)
        # git interpret-trailers starts a trailer paragraph only after a message that ends its last line
        text = message.rstrip("\n") + "\n"
        done = self.repo.index.commit(text, author=actor, committer=actor, trailers=trailers)
        return done.hexsha

    def history(self, *paths: str) -> Iterator[Commit]:
        """The remote branch's commits that touched any of `paths`, newest first."""
        if self.head() is None:
            return iter(())
        return self.repo.iter_commits(self.remote_ref, paths=list(paths))

    def push(self, ref: str, force: bool = False) -> None:
        """Push HEAD to `ref` (`force`: a review branch of our own); a rejection raises, a moved remote as
        PushRaceError."""
        from git.exc import GitCommandError
        from git.remote import PushInfo

        try:
            results = self.repo.remotes.origin.push(f"{'+' if force else ''}HEAD:refs/heads/{ref}")
        except GitCommandError as exc:
            raise failure(f"push of {ref} to {self.url} failed", _said(exc)) from exc
        bad = PushInfo.ERROR | PushInfo.REJECTED | PushInfo.REMOTE_REJECTED | PushInfo.REMOTE_FAILURE
        if not results:
            raise GitOpsError(f"push of {ref} to {self.url} reported nothing")
        for info in results:
            if info.flags & bad:
                said = info.summary.strip() or f"flags {info.flags}"
                raise failure(f"push of {ref} to {self.url} was rejected", said)


def failure(what: str, said: str) -> GitOpsError:
    """The error for what git said: refused credentials, a lost race, an unreachable remote, or other."""
    text = said.lower()
    if any(w in text for w in AUTH_WORDS):
        hint = "credentials: GITOPS_USERNAME and GITOPS_TOKEN for https, GITOPS_SSH_KEY for ssh"
        return GitAuthError(f"{what}: {said} ({hint})")
    if any(w in text for w in RACE_WORDS):
        return PushRaceError(f"{what}: {said}")
    if any(w in text for w in UNREACHABLE_WORDS):
        return GitUnreachableError(f"{what}: {said}")
    return GitOpsError(f"{what}: {said}")


def _said(exc: Exception) -> str:
    """What git printed, without the command line (which may hold a URL)."""
    text = getattr(exc, "stderr", "") or str(exc)
    return " ".join(text.replace("stderr:", "").split())[:500]
