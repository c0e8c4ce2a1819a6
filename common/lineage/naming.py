"""OpenLineage dataset names for what steps record (StepResult.datasets_read / datasets_written), pure.

Naming follows the OpenLineage spec where it has a rule (Postgres: postgres://host:port + db.schema.table; S3:
s3://bucket + key; local files: file + path) and stable names of our own where it has none: a SQLite table
(sqlite:// + file path, table), a DVC version (the registry file, version = data tag), a Feast feature view
(feast://project, view), a deployment repo's folder (the repo URL, path, version = commit), an MLflow model
version (mlflow, model name, version = registry version; datasetType MODEL)
and a served endpoint (its base URL, path)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    kind: str  # the datasetType facet: TABLE, FILE, MODEL, FEATURE_VIEW, ENDPOINT
    version: str | None = None  # the version facet, where the dataset is versioned
    source: str | None = None  # the dataSource facet's URI (the warehouse, the bucket, the registry)


def dataset_of(uri: str) -> DatasetRef:
    """The OpenLineage identity of a dataset a step recorded; a scheme we do not know keeps its URI as the name."""
    scheme = uri.split(":", 1)[0].lower()
    if scheme.startswith("postgres"):
        return _postgres(uri)
    if scheme == "sqlite":
        path, _, table = uri.removeprefix("sqlite:///").partition("#")
        return DatasetRef(f"sqlite://{path}", table, "TABLE", source=f"sqlite://{path}")
    if scheme == "file":
        return DatasetRef("file", unquote(urlsplit(uri).path), "FILE", source="file")
    if scheme == "s3":
        parts = urlsplit(uri)
        return DatasetRef(
            f"s3://{parts.netloc}", unquote(parts.path.lstrip("/")), "FILE", source=f"s3://{parts.netloc}"
        )
    if scheme == "dvc":  # dvc://<registry root><path in it>@<tag>
        path, _, tag = uri.removeprefix("dvc://").rpartition("@")
        return DatasetRef("file", path, "FILE", version=tag, source="dvc")
    if scheme == "feast":  # feast://<project>/<feature view>
        project, _, view = uri.removeprefix("feast://").partition("/")
        return DatasetRef(f"feast://{project}", view, "FEATURE_VIEW", source=f"feast://{project}")
    if scheme == "models":  # models:/<name>/<version> or models:/<name>@<alias>
        name, _, version = uri.removeprefix("models:/").partition("/")
        return DatasetRef("mlflow", name, "MODEL", version=version or None, source="mlflow")
    if scheme in ("http", "https"):
        parts = urlsplit(uri)
        base = f"{parts.scheme}://{parts.netloc}"
        return DatasetRef(base, parts.path or "/", "ENDPOINT", source=base)
    if scheme.startswith("git+"):  # git+<repo url>#<path in the repo>@<commit>
        repo, _, rest = uri.removeprefix("git+").partition("#")
        path, _, commit = rest.rpartition("@")
        return DatasetRef(repo, path, "FILE", version=commit or None, source=repo)
    if scheme == "kserve":  # kserve://<namespace>/<InferenceService>
        namespace, _, name = uri.removeprefix("kserve://").partition("/")
        return DatasetRef(f"kserve://{namespace}", name, "ENDPOINT", source=f"kserve://{namespace}")
    return DatasetRef("unknown", uri, "FILE")


def _postgres(uri: str) -> DatasetRef:
    """postgresql+driver://user:***@host:port/db#[schema.]table -> postgres://host:port, db.schema.table."""
    from sqlalchemy.engine import make_url

    url, _, table = uri.partition("#")
    parsed = make_url(url)
    schema, _, name = table.rpartition(".")
    authority = f"postgres://{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return DatasetRef(authority, f"{parsed.database}.{schema or 'public'}.{name}", "TABLE", source=authority)
