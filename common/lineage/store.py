"""The embedded lineage store: the workspace's OpenLineage events (events.jsonl, and the spool of those not yet
delivered) answer what Marquez's API would. Each job's edges come from its latest finished run, as Marquez builds
them; run-level lineage links every input to the run that wrote that version of it (by its version facet, else the
newest write before the reading run started)."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common.lineage.graph import (
    DatasetVersion,
    Graph,
    Node,
    RunNode,
    VersionRef,
    dataset_id,
    job_id,
    name_matches,
)

FINISHED = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}


@dataclass
class _Run:
    node: RunNode
    started: float = 0.0
    ended: float = 0.0
    job_facets: dict[str, Any] = field(default_factory=dict)
    input_facets: dict[str, dict[str, Any]] = field(default_factory=dict)  # by dataset id


def read_events(
    folder: Path, on_torn: Callable[[Path, list[str]], object] | None = None
) -> list[dict[str, Any]]:
    """Every event the workspace holds, each once (a spooled event may also have reached the file). A line that
    is not an event (torn by a killed writer) is skipped and handed to `on_torn` (the quarantine)."""
    import orjson  # parsing is most of a query's time: orjson reads these events ~1.6x faster than json

    seen, events = set(), []
    for path in (folder / "events.jsonl", folder / "spool.jsonl"):
        if not path.exists():
            continue
        torn = []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
                key = (event["run"]["runId"], event["eventType"])
                _ = event["job"]["name"], event["eventTime"]  # without them it is no event: KeyError
            except (orjson.JSONDecodeError, KeyError, TypeError):
                torn.append(line.decode(errors="replace"))
                continue
            if key not in seen:
                seen.add(key)
                events.append(event)
        if torn and on_torn is not None:
            on_torn(path, torn)
    return events


def _seconds(stamp: str | None) -> float:
    return datetime.fromisoformat(stamp).timestamp() if stamp else 0.0


class EventStore:
    """Lineage answers from events; the same questions as common.lineage.marquez.MarquezSource."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self._runs: dict[str, _Run] = {}
        self._datasets: dict[str, dict[str, Any]] = {}  # the newest facets of each dataset, Marquez's Dataset
        for event in sorted(events, key=lambda e: e["eventTime"]):
            self._add(event)
        finished = [r for r in self._runs.values() if r.node.status]
        self.runs = sorted(finished, key=lambda r: r.ended)
        self._producers: dict[str, list[tuple[float, str | None, str]]] = {}
        for run in self.runs:
            if run.node.status == "COMPLETED":
                for out in run.node.outputs:
                    self._producers.setdefault(out.id, []).append((run.ended, out.version, run.node.run_id))
        self._graph: Graph | None = None

    def _add(self, event: dict[str, Any]) -> None:
        run_id, job = event["run"]["runId"], event["job"]
        run = self._runs.get(run_id)
        if run is None:
            node = RunNode(job["namespace"], job["name"], run_id, "", None, None)
            run = self._runs[run_id] = _Run(node)
        state = event["eventType"]
        if state == "START":
            run.node.start, run.started = event["eventTime"], _seconds(event["eventTime"])
        elif state in FINISHED:
            run.node.status, run.node.end = FINISHED[state], event["eventTime"]
            run.ended = _seconds(event["eventTime"])
            run.started = run.started or run.ended
        run.job_facets.update(job.get("facets") or {})
        for item in event.get("inputs") or []:
            ref = self._dataset(item, event["eventTime"])
            run.node.inputs.append(ref)
            if item.get("inputFacets"):
                run.input_facets[ref.id] = item["inputFacets"]
        for item in event.get("outputs") or []:
            run.node.outputs.append(self._dataset(item, event["eventTime"]))

    def _dataset(self, item: dict[str, Any], when: str) -> VersionRef:
        ns, name, facets = item["namespace"], item["name"], item.get("facets") or {}
        key = dataset_id(ns, name)
        known = self._datasets.setdefault(
            key, {"id": {"namespace": ns, "name": name}, "namespace": ns, "name": name, "facets": {}}
        )
        known["facets"].update(facets)
        known["updatedAt"] = when
        version = (facets.get("version") or {}).get("datasetVersion")
        return VersionRef(ns, name, version)

    # -- the graph (GET /api/v1/lineage) --------------------------------------------------------------------------

    def graph(self) -> Graph:
        """Jobs and datasets joined by each job's latest finished run."""
        if self._graph is None:
            latest: dict[str, _Run] = {}
            for run in self.runs:  # in finish order: the last one wins
                latest[job_id(run.node.job_namespace, run.node.job)] = run
            nodes: dict[str, Node] = {}
            for jid, run in latest.items():
                nodes[jid] = Node(jid, "JOB", _job_data(run))
                for ref in dict.fromkeys(run.node.inputs):
                    self._edge(nodes, ref.id, jid)
                for ref in dict.fromkeys(run.node.outputs):
                    self._edge(nodes, jid, ref.id)
            self._graph = Graph(nodes)
        return self._graph

    def _edge(self, nodes: dict[str, Node], origin: str, destination: str) -> None:
        for nid in (origin, destination):
            if nid not in nodes:
                nodes[nid] = Node(nid, "DATASET", self._datasets[nid])
        if destination not in nodes[origin].out_edges:
            nodes[origin].out_edges.append(destination)
            nodes[destination].in_edges.append(origin)

    def lineage(self, node_id: str, depth: int) -> Graph:
        """What Marquez answers for nodeId and depth: the nodes within `depth` hops, either direction."""
        graph = self.graph()
        if (
            node_id not in graph.nodes
        ):  # a dataset no job's latest run names: the node alone, as Marquez has it
            known = self._datasets.get(node_id)
            return Graph({node_id: Node(node_id, "DATASET", known)} if known else {})
        seen, queue = {node_id}, deque([(node_id, 0)])
        while queue:
            current, hops = queue.popleft()
            if hops >= depth:
                continue
            node = graph.nodes[current]
            for nxt in node.in_edges + node.out_edges:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, hops + 1))
        return graph.subgraph(list(seen))

    def search(self, text: str) -> list[str]:
        """Node ids whose name is `text`, or ends in it after a '.' or '/'."""
        jobs = {job_id(r.node.job_namespace, r.node.job): r.node.job for r in self.runs}
        names = {**{i: d["name"] for i, d in self._datasets.items()}, **jobs}
        return [i for i, name in names.items() if name_matches(name, text)]

    # -- versions and run-level lineage ---------------------------------------------------------------------------

    def dataset_versions(self, namespace: str, name: str) -> list[DatasetVersion]:
        """The versions written, newest first."""
        found = []
        for _ended, version, run_id in reversed(self._producers.get(dataset_id(namespace, name), [])):
            end = self._runs[run_id].node.end or ""
            found.append(DatasetVersion(namespace, name, version or run_id, end, run_id))
        return found

    def upstream_runs(self, run_id: str, depth: int = 20) -> list[RunNode]:
        """The run and, breadth first, the runs that wrote the versions it read (Marquez's runlineage)."""
        order, seen = [], {run_id}
        queue = deque([(run_id, 0)])
        while queue:
            current, hops = queue.popleft()
            run = self._runs.get(current)
            if run is None:
                continue
            inputs = [
                VersionRef(r.namespace, r.name, r.version, self._producer(r, run.started))
                for r in dict.fromkeys(run.node.inputs)
            ]
            order.append(RunNode(**{**run.node.__dict__, "inputs": inputs}))
            for ref in inputs:
                if ref.produced_by and ref.produced_by not in seen and hops < depth:
                    seen.add(ref.produced_by)
                    queue.append((ref.produced_by, hops + 1))
        return order

    def _producer(self, ref: VersionRef, before: float) -> str | None:
        """The run that wrote `ref`'s version: the newest write of that version finished by `before`, else the
        newest write of any version by then."""
        writes = self._producers.get(ref.id, [])
        stop = bisect.bisect_right(writes, before, key=lambda w: w[0])
        for _ended, version, run_id in reversed(writes[:stop]):
            if ref.version is None or version == ref.version:
                return run_id
        return writes[stop - 1][2] if stop else None

    def input_facets(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The input facets (dataQualityAssertions) a run recorded, by dataset id."""
        run = self._runs.get(run_id)
        return dict(run.input_facets) if run else {}


def _job_data(run: _Run) -> dict[str, Any]:
    node = run.node
    return {
        "id": {"namespace": node.job_namespace, "name": node.job},
        "type": "BATCH",
        "namespace": node.job_namespace,
        "name": node.job,
        "inputs": [{"namespace": r.namespace, "name": r.name} for r in dict.fromkeys(node.inputs)],
        "outputs": [{"namespace": r.namespace, "name": r.name} for r in dict.fromkeys(node.outputs)],
        "facets": run.job_facets,
        "latestRun": {"id": node.run_id, "state": node.status, "startedAt": node.start, "endedAt": node.end},
    }
