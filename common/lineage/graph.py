"""The lineage model both query backends fill, pure: a graph shaped like Marquez's `GET /api/v1/lineage` answer
({"graph": [{id, type, data, inEdges, outEdges}]}, edges {origin, destination}) and run-level records shaped like
its `GET /api/v1/runlineage/upstream` answer ({"runs": [{job, run, inputs, outputs}]}). Marquez walks its graph
undirected; direction (upstream, downstream) is ours."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


def dataset_id(namespace: str, name: str) -> str:
    return f"dataset:{namespace}:{name}"


def job_id(namespace: str, name: str) -> str:
    return f"job:{namespace}:{name}"


def name_matches(name: str, text: str) -> bool:
    """A node a user names by its name, or its last part after a '.' or '/' (a table, a file, a view)."""
    return name == text or name.endswith(f".{text}") or name.endswith(f"/{text}")


def kind_of(namespace: str) -> str:
    """A dataset's kind from its namespace, as common.lineage.naming names them (runlineage carries no facets)."""
    scheme = namespace.split(":", 1)[0]
    if scheme.startswith("postgres") or scheme == "sqlite":
        return "TABLE"
    return {"mlflow": "MODEL", "feast": "FEATURE_VIEW", "http": "ENDPOINT", "https": "ENDPOINT"}.get(
        scheme, "ENDPOINT" if scheme == "kserve" else "FILE"
    )


@dataclass
class Node:
    id: str
    type: str  # DATASET | JOB
    data: dict[str, Any]  # Marquez's Dataset or Job object: namespace, name, facets; a job's latestRun
    in_edges: list[str] = field(default_factory=list)  # origin ids
    out_edges: list[str] = field(default_factory=list)  # destination ids

    @property
    def label(self) -> str:
        return str(self.data.get("name", self.id))

    @property
    def kind(self) -> str:
        """JOB, or the dataset's datasetType facet (its namespace's kind when the facet is missing)."""
        if self.type == "JOB":
            return "JOB"
        facet = (self.data.get("facets") or {}).get("datasetType") or {}
        return str(facet.get("datasetType") or kind_of(str(self.data.get("namespace", ""))))

    @property
    def version(self) -> str | None:
        facet = (self.data.get("facets") or {}).get("version") or {}
        return facet.get("datasetVersion")


class Graph:
    """Nodes by id; `upstream` and `downstream` walk the edges in their direction."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes

    @classmethod
    def from_marquez(cls, payload: dict[str, Any]) -> Graph:
        nodes = {}
        for item in payload.get("graph", []):
            nodes[item["id"]] = Node(
                item["id"],
                item["type"],
                item.get("data") or {},
                [e["origin"] for e in item.get("inEdges", [])],
                [e["destination"] for e in item.get("outEdges", [])],
            )
        return cls(nodes)

    def to_marquez(self) -> dict[str, Any]:
        return {
            "graph": [
                {
                    "id": n.id,
                    "type": n.type,
                    "data": n.data,
                    "inEdges": [{"origin": o, "destination": n.id} for o in n.in_edges],
                    "outEdges": [{"origin": n.id, "destination": d} for d in n.out_edges],
                }
                for n in self.nodes.values()
            ]
        }

    def upstream(self, start: str, depth: int | None = None) -> list[str]:
        return self._walk(start, "in_edges", depth)

    def downstream(self, start: str, depth: int | None = None) -> list[str]:
        return self._walk(start, "out_edges", depth)

    def _walk(self, start: str, edges: str, depth: int | None) -> list[str]:
        """Breadth first from `start` (not included), each node once, nearest first."""
        seen, order = {start}, []
        queue: deque[tuple[str, int]] = deque([(start, 0)])
        while queue:
            current, hops = queue.popleft()
            node = self.nodes.get(current)
            if node is None or (depth is not None and hops >= depth):
                continue
            for nxt in getattr(node, edges):
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(nxt)
                    queue.append((nxt, hops + 1))
        return order

    def subgraph(self, ids: list[str]) -> Graph:
        keep = set(ids)
        return Graph(
            {
                i: Node(
                    n.id,
                    n.type,
                    n.data,
                    [o for o in n.in_edges if o in keep],
                    [d for d in n.out_edges if d in keep],
                )
                for i, n in self.nodes.items()
                if i in keep
            }
        )


@dataclass(frozen=True)
class VersionRef:
    """A dataset at a version; `produced_by` the run that wrote that version, where known."""

    namespace: str
    name: str
    version: str | None = None
    produced_by: str | None = None

    @property
    def id(self) -> str:
        return dataset_id(self.namespace, self.name)


@dataclass
class RunNode:
    """One finished run of a job and the dataset versions it read and wrote (Marquez's runlineage entry)."""

    job_namespace: str
    job: str
    run_id: str
    status: str  # COMPLETED | FAILED | ABORTED
    start: str | None
    end: str | None
    inputs: list[VersionRef] = field(default_factory=list)
    outputs: list[VersionRef] = field(default_factory=list)

    @classmethod
    def from_marquez(cls, item: dict[str, Any]) -> RunNode:
        def refs(key: str) -> list[VersionRef]:
            return [
                VersionRef(d["namespace"], d["name"], d.get("version"), d.get("producedByRunId"))
                for d in item.get(key, [])
            ]

        run = item["run"]
        return cls(
            item["job"]["namespace"],
            item["job"]["name"],
            run["id"],
            run.get("status", ""),
            run.get("start"),
            run.get("end"),
            refs("inputs"),
            refs("outputs"),
        )

    def to_marquez(self) -> dict[str, Any]:
        def refs(items: list[VersionRef]) -> list[dict[str, Any]]:
            return [
                {"namespace": r.namespace, "name": r.name, "version": r.version}
                | ({"producedByRunId": r.produced_by} if r.produced_by else {})
                for r in items
            ]

        return {
            "job": {"namespace": self.job_namespace, "name": self.job},
            "run": {"id": self.run_id, "start": self.start, "end": self.end, "status": self.status},
            "inputs": refs(self.inputs),
            "outputs": refs(self.outputs),
        }


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a dataset (Marquez's DatasetVersion): our version facet's value and the run that wrote it."""

    namespace: str
    name: str
    version: str  # the version facet (a registry version, a data tag), else the backend's own version id
    created_at: str
    run_id: str | None

    @classmethod
    def from_marquez(cls, item: dict[str, Any]) -> DatasetVersion:
        facet = (item.get("facets") or {}).get("version") or {}
        run = item.get("createdByRun") or {}
        return cls(
            item["namespace"],
            item["name"],
            str(facet.get("datasetVersion") or item["version"]),
            item.get("createdAt", ""),
            run.get("id"),
        )
