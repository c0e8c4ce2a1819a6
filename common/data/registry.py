"""A DVC data registry in the workspace: a git repo whose tags data-vN name each version of a dataset."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MissingInputError
from common.settings import DvcCfg, Settings
from common.workspace import Workspace, atomic_path

if TYPE_CHECKING:
    import git

log = logging.getLogger(__name__)
REMOTE = "storage"
TAG = re.compile(r"^data-v(\d+)$")


@dataclass
class Version:
    tag: str
    commit: str
    md5: str
    message: str
    created: bool  # False when the data was already the latest version


class DataRegistry:
    """Versions of files under `root/data/`, tracked by DVC, committed and tagged with git, pushed to a remote."""

    def __init__(self, root: Path, remote: DvcCfg, default_remote: Path) -> None:
        self.root, self.remote, self.default_remote = root, remote, default_remote
        self.site_cache = root.parent / "dvc-site-cache"
        self.git = self._open_or_init()
        self._configure_remote()

    def _open_or_init(self) -> git.Repo:
        import git
        from dvc.repo import Repo

        if (self.root / ".dvc").is_dir():
            return git.Repo(self.root)
        log.info("creating the data registry %s (git + DVC)", self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(self.root)
        with repo.config_writer() as cw:
            cw.set_value("user", "name", "mlops-pipeline")
            cw.set_value("user", "email", "mlops-pipeline@localhost")
        _route_dvc_logs()
        # DVC's site cache defaults to /var/tmp/dvc: keep it in the workspace, by env only while init runs
        # (before the repo has a config) and by the repo's local config after.
        with _env("DVC_SITE_CACHE_DIR", str(self.site_cache)):
            Repo.init(str(self.root)).close()
            with _dvc(self.root) as dvc:
                with dvc.config.edit("local") as conf:
                    conf["core"]["site_cache_dir"] = str(self.site_cache)
                with dvc.config.edit("repo") as conf:
                    conf["core"]["analytics"] = False
                    conf["core"]["autostage"] = False
        repo.index.add([".dvc/config", ".dvc/.gitignore", ".dvcignore"])
        repo.index.commit("data registry: initialise DVC")
        return repo

    def _configure_remote(self) -> None:
        """The remote from config, every run: a changed config takes effect. Its keys are never written: DVC is
        given them in memory for each push and read (`_keys`); keys an older run left in the git-ignored local
        config are removed."""
        url = self.remote.remote_url or str(self.default_remote)
        with _dvc(self.root) as dvc:
            with dvc.config.edit("repo") as conf:
                conf["remote"][REMOTE] = {
                    "url": url,
                    **({"endpointurl": self.remote.endpoint_url} if self.remote.endpoint_url else {}),
                }
                conf["core"]["remote"] = REMOTE
            if REMOTE in dvc.config.read("local").get("remote", {}):
                with dvc.config.edit("local") as conf:
                    del conf["remote"][REMOTE]
        if self.git.is_dirty(path=".dvc/config"):
            self.git.index.add([".dvc/config"])
            self.git.index.commit(f"data registry: remote {REMOTE} -> {url}")

    def _keys(self) -> dict[str, Any]:
        """The remote's keys from config, as DVC's remote config takes them (empty: boto3's own chain)."""
        secret = self.remote.secret_access_key.get_secret_value()
        if not (self.remote.access_key_id or secret):
            return {}
        return {"access_key_id": self.remote.access_key_id, "secret_access_key": secret}

    def versions(self) -> list[tuple[int, str, str]]:
        """(number, tag, message) of every data-vN tag, oldest first."""
        found = [
            (int(m.group(1)), t.name, (t.tag.message if t.tag else "").strip())
            for t in self.git.tags
            if (m := TAG.match(t.name))
        ]
        return sorted(found)

    def commit(self, src: Path, rel: str, message: str) -> Version:
        """Make `src` the new version of `rel`: moved in, DVC add, push, then git commit and tag data-vN.

        The same content as the current version makes no new version (and `src` is left where it is).
        If the push fails, the working tree goes back to the last version and nothing is committed."""
        md5 = file_md5(src)
        versions = self.versions()
        latest = versions[-1][1] if versions else None
        if latest and self._md5_at(latest, rel) == md5:
            log.info("%s unchanged (md5 %s): already version %s", rel, md5, latest)
            return Version(latest, self.git.tags[latest].commit.hexsha, md5, "", created=False)
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dest)
        try:
            with _dvc(self.root, self._keys()) as dvc:
                dvc.add(str(dest))
                pushed = dvc.push()
        except Exception:
            self._restore(rel)
            raise
        log.info("pushed %d object(s) to remote %s", pushed, REMOTE)
        number = (versions[-1][0] if versions else 0) + 1
        tag = f"data-v{number}"
        self.git.index.add([f"{rel}.dvc", str(Path(rel).parent / ".gitignore")])
        commit = self.git.index.commit(f"{tag}: {message}")
        self.git.create_tag(tag, ref=commit, message=message)
        log.info("new data version %s (%s)", tag, commit.hexsha[:10])
        return Version(tag, commit.hexsha, md5, message, created=True)

    def export(self, rel: str, tag: str, dest: Path) -> Path:
        """Write version `tag` of `rel` to `dest`, from the local cache or the remote."""
        import dvc.api

        if tag not in {t for _, t, _ in self.versions()}:
            raise MissingInputError(
                f"no version {tag} in the data registry {self.root}; "
                f"versions: {[t for _, t, _ in self.versions()]}"
            )
        with (
            atomic_path(dest) as tmp,
            dvc.api.open(
                rel,
                repo=str(self.root),
                rev=tag,
                mode="rb",
                remote=REMOTE,
                remote_config=self._keys() or None,
            ) as fh,
            tmp.open("wb") as out,
        ):
            shutil.copyfileobj(fh, out, 1 << 20)
        return dest

    def _md5_at(self, tag: str, rel: str) -> str | None:
        import git
        import yaml

        try:
            meta = yaml.safe_load(self.git.git.show(f"{tag}:{rel}.dvc"))
        except git.GitCommandError:
            return None
        return meta["outs"][0]["md5"]

    def _restore(self, rel: str) -> None:
        """Put `rel` back as the last commit has it (or remove it if it was never committed)."""
        try:
            self.git.head.commit.tree / f"{rel}.dvc"
        except (KeyError, ValueError):
            (self.root / f"{rel}.dvc").unlink(missing_ok=True)
            (self.root / rel).unlink(missing_ok=True)
            return
        self.git.git.checkout("HEAD", "--", f"{rel}.dvc")
        with _dvc(self.root) as dvc:
            dvc.checkout(str(self.root / rel), force=True)


def _dvc(root: Path, keys: dict[str, Any] | None = None) -> Any:
    """The registry's DVC repo; `keys` are merged into its remote's config in memory only."""
    from dvc.repo import Repo

    _route_dvc_logs()
    repo = Repo(str(root), config={"remote": {REMOTE: keys}} if keys else None)
    repo.scm_context.quiet = True  # no "to track the changes with git, run..." hints: we commit ourselves
    return repo


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _route_dvc_logs() -> None:
    """DVC's import installs a stdout handler on its logger; stdout is for the JSON summary, so use ours."""
    dvc_log = logging.getLogger("dvc")
    for handler in list(dvc_log.handlers):
        dvc_log.removeHandler(handler)
    dvc_log.propagate = True
    dvc_log.setLevel(max(logging.getLogger().level, logging.WARNING))


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def open_registry(cfg: Settings, ws: Workspace) -> DataRegistry:
    """The workspace's data registry (UC1 step 02 versions the extract in it)."""
    return DataRegistry(ws.root / "data-registry", cfg.dvc, ws.dir("dvc-remote"))


def data_path(cfg: Settings) -> str:
    """The versioned file, relative to the registry."""
    return f"data/{cfg.dataset.table}.parquet"
