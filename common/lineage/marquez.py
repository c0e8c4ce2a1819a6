"""Lineage answers from Marquez's REST API (lineage.url), parsed into the model the embedded store fills
(common.lineage.graph): the same questions, the same answers. Documented endpoints only:
GET /api/v1/lineage, /api/v1/search, /api/v1/namespaces/{ns}/datasets/{name}/versions[/{version}],
/api/v1/runlineage/upstream and /api/v1/jobs/runs/{id}."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from common.errors import ConfigError, ServiceUnavailableError
from common.lineage.graph import DatasetVersion, Graph, RunNode, VersionRef, name_matches
from common.settings import LineageCfg

log = logging.getLogger(__name__)
VERSIONS_PAGE = 100  # dataset versions asked for at once: a model's registry versions


class MarquezSource:
    """A Marquez API client; `session` is a requests.Session (passed in by tests and callers)."""

    def __init__(self, cfg: LineageCfg, session: Any) -> None:
        from urllib.parse import unquote, urlsplit

        from common.redact import without_credentials

        # credentials in lineage.url go as basic auth, never in an address an error message would show
        self.base = without_credentials(cfg.url).rstrip("/") + "/api/v1"
        parts = urlsplit(cfg.url)
        if parts.username is not None:
            session.auth = (unquote(parts.username), unquote(parts.password or ""))
        self.timeout = cfg.timeout_s
        self.session = session
        key = cfg.api_key.get_secret_value()
        if key:
            session.headers["Authorization"] = f"Bearer {key}"
        self._versions: dict[tuple[str, str, str], dict[str, Any]] = {}

    def _get(self, path: str, **params: Any) -> Any:
        import requests

        url = f"{self.base}{path}"
        try:
            response = self.session.get(url, params=params or None, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ServiceUnavailableError(f"Marquez at {self.base} cannot be reached: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"Marquez answered {response.status_code} to GET {url}")
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise ConfigError(
                f"Marquez refused GET {url} ({response.status_code}): set MARQUEZ_API_KEY to a valid key"
            )
        response.raise_for_status()
        return response.json()

    def lineage(self, node_id: str, depth: int) -> Graph:
        payload = self._get("/lineage", nodeId=node_id, depth=depth)
        return Graph.from_marquez(payload or {})

    def search(self, text: str) -> list[str]:
        payload = self._get("/search", q=text, limit=50) or {}
        return [r["nodeId"] for r in payload.get("results", []) if name_matches(r.get("name", ""), text)]

    def dataset_versions(self, namespace: str, name: str) -> list[DatasetVersion]:
        """Newest first, as Marquez lists them."""
        path = f"/namespaces/{quote(namespace, safe='')}/datasets/{quote(name, safe='')}/versions"
        payload = self._get(path, limit=VERSIONS_PAGE) or {}
        return [DatasetVersion.from_marquez(v) for v in payload.get("versions", [])]

    def upstream_runs(self, run_id: str, depth: int = 20) -> list[RunNode]:
        """Marquez's run-level upstream; its version ids become our version facets' values (None without one)."""
        payload = self._get("/runlineage/upstream", runId=run_id, depth=depth) or {}
        runs = [RunNode.from_marquez(item) for item in payload.get("runs", [])]
        for run in runs:
            run.inputs = [self._ours(r) for r in run.inputs]
            run.outputs = [self._ours(r) for r in run.outputs]
        return runs

    def _ours(self, ref: VersionRef) -> VersionRef:
        if ref.version is None:
            return ref
        key = (ref.namespace, ref.name, ref.version)
        if key not in self._versions:
            path = (
                f"/namespaces/{quote(ref.namespace, safe='')}/datasets/{quote(ref.name, safe='')}"
                f"/versions/{quote(ref.version, safe='')}"
            )
            self._versions[key] = self._get(path) or {}
        facet = (self._versions[key].get("facets") or {}).get("version") or {}
        # our version facet, as the embedded store names versions; Marquez's own version id means nothing to a user
        return VersionRef(ref.namespace, ref.name, facet.get("datasetVersion"), ref.produced_by)

    def input_facets(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The input facets of a run's inputs, by dataset id (Marquez's Run.inputDatasetVersions)."""
        run = self._get(f"/jobs/runs/{quote(run_id, safe='')}") or {}
        found = {}
        for item in run.get("inputDatasetVersions", []):
            ident = item.get("datasetVersionId") or {}
            if item.get("facets"):
                found[f"dataset:{ident.get('namespace')}:{ident.get('name')}"] = item["facets"]
        return found
