"""Lineage questions over either backend (the embedded EventStore or MarquezSource): where a node came from
(upstream), what depends on it (impact: jobs, datasets, model versions with their aliases, endpoints), and the
provenance of one model version. Aliases and the gate's decision come from the model registry, the source of truth
for them; `source` and `models` are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from common.errors import ConfigError
from common.lineage.graph import DatasetVersion, Graph, Node, RunNode, VersionRef, dataset_id, job_id, kind_of
from common.lineage.naming import dataset_of

MODEL_NAMESPACE = "mlflow"


class Source(Protocol):
    def lineage(self, node_id: str, depth: int) -> Graph: ...
    def search(self, text: str) -> list[str]: ...
    def dataset_versions(self, namespace: str, name: str) -> list[DatasetVersion]: ...
    def upstream_runs(self, run_id: str, depth: int = 20) -> list[RunNode]: ...
    def input_facets(self, run_id: str) -> dict[str, dict[str, Any]]: ...


class Models(Protocol):
    def aliases(self, name: str) -> dict[str, str]: ...  # alias -> version
    def version(self, name: str, ref: str) -> dict[str, Any]: ...  # ref: a version number or an alias


@dataclass(frozen=True)
class Target:
    id: str
    version: str | None = None  # the dataset's version (a data tag, a registry version) when one was named


def resolve(source: Source, text: str) -> Target:
    """A node from what a user types: a node id (dataset:ns:name, job:ns:name), a dataset URI as steps record it
    (postgresql://..#table, sqlite:///..#table, s3://, file://, models:/name[/N], http://..), or a name."""
    if text.startswith(("dataset:", "job:")):
        return Target(text)
    if "://" in text or text.startswith("models:/"):
        ref = dataset_of(text)
        return Target(dataset_id(ref.namespace, ref.name), ref.version)
    found = source.search(text)
    if len(found) == 1:
        return Target(found[0])
    if not found:
        raise ConfigError(f"no dataset or job named {text!r} in the lineage; give a node id or a dataset URI")
    raise ConfigError(f"{text!r} names {len(found)} nodes, give one of: " + ", ".join(sorted(found)))


def _graph_around(source: Source, target: Target, depth: int) -> Graph:
    graph = source.lineage(target.id, depth)
    if target.id not in graph.nodes:
        raise ConfigError(f"{target.id} is not in the lineage (no finished run read or wrote it)")
    return graph


def describe(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "type": node.kind,
        "namespace": node.data.get("namespace"),
        "name": node.label,
        "version": node.version,
    }


def upstream(source: Source, target: Target, depth: int) -> tuple[dict[str, Any], Graph]:
    """Everything `target` came from, nearest first."""
    graph = _graph_around(source, target, depth)
    found = graph.upstream(target.id, depth)
    picture = graph.subgraph([target.id, *found])
    return {
        "query": "upstream",
        "node": target.id,
        "upstream": [describe(graph.nodes[i]) for i in found],
    }, picture


def impact(
    source: Source, models: Models | None, target: Target, depth: int, model_names: list[str]
) -> tuple[dict[str, Any], Graph]:
    """Everything downstream of `target`: jobs and datasets by the graph; the model versions whose run-level
    lineage reads it (with their aliases), and the endpoints and what version each serves now."""
    graph = _graph_around(source, target, depth)
    down = graph.downstream(target.id, depth)
    model_ids = dict.fromkeys(
        [i for i in down if graph.nodes[i].kind == "MODEL"]
        + [dataset_id(MODEL_NAMESPACE, n) for n in model_names]
        + ([target.id] if graph.nodes[target.id].kind == "MODEL" else [])
    )
    affected, endpoints, aliases = [], {}, {}
    for mid in model_ids:
        name = mid.removeprefix(f"dataset:{MODEL_NAMESPACE}:")
        aliases[name] = _aliases(models, name)
        for version in source.dataset_versions(MODEL_NAMESPACE, name):
            if _reads(source, version, target, mid):
                by_version = [a for a, v in aliases[name].items() if v == version.version]
                affected.append(
                    {
                        "model": name,
                        "version": version.version,
                        "aliases": sorted(by_version),
                        "trained_by_run": version.run_id,
                        "created": version.created_at,
                    }
                )
        endpoints.update(_endpoints(source, mid))
    versions = {(m["model"], m["version"]) for m in affected}
    for endpoint in endpoints.values():
        endpoint["affected"] = tuple(endpoint.pop("_serves", ())) in versions
    picture = graph.subgraph([target.id, *down])
    return {
        "query": "impact",
        "node": target.id,
        "version": target.version,
        "jobs": [graph.nodes[i].label for i in down if graph.nodes[i].type == "JOB"],
        "datasets": [describe(graph.nodes[i]) for i in down if graph.nodes[i].type == "DATASET"],
        "model_versions": affected,
        "endpoints": list(endpoints.values()),
    }, picture


def _reads(source: Source, version: DatasetVersion, target: Target, model_id: str) -> bool:
    """Whether the run that wrote this model version was fed by `target` (at its version, if one was named)."""
    if target.id == model_id:
        return matches(version.version, target.version)
    if version.run_id is None:
        return False
    for run in source.upstream_runs(version.run_id):
        if target.id == job_id(run.job_namespace, run.job):
            return True
        for ref in run.inputs + run.outputs:
            if ref.id == target.id and matches(ref.version, target.version):
                return True
    return False


def matches(recorded: str | None, asked: str | None) -> bool:
    """A version asked for by its tag ('data-v3') matches the recorded one ('data-v3 (md5 ...)')."""
    return asked is None or recorded == asked or (recorded or "").startswith(f"{asked} (")


def _aliases(models: Models | None, name: str) -> dict[str, str]:
    return models.aliases(name) if models is not None else {}


def _endpoints(source: Source, model_id: str) -> dict[str, dict[str, Any]]:
    """The endpoints downstream of a model, each with the model version its newest deployment read."""
    found = {}
    graph = source.lineage(model_id, 2)
    for eid in graph.downstream(model_id, 2):
        node = graph.nodes[eid]
        if node.kind != "ENDPOINT":
            continue
        ns, name = node.data.get("namespace", ""), node.label
        entry: dict[str, Any] = {"id": eid, "url": _url(ns, name), "serves": None}
        versions = source.dataset_versions(ns, name)
        if versions and versions[0].run_id:
            run = _run(source.upstream_runs(versions[0].run_id, 0), versions[0].run_id)
            model = next((r for r in run.inputs if r.id == model_id), None) if run else None
            if model is not None:
                entry["serves"] = f"{model.name}/{model.version}"
                entry["_serves"] = (model.name, model.version)
        found[eid] = entry
    return found


def _url(namespace: str, name: str) -> str:
    return f"{namespace}{name}" if namespace.startswith("http") else f"{namespace}/{name}"


def _run(runs: list[RunNode], run_id: str) -> RunNode | None:
    return next((r for r in runs if r.run_id == run_id), None)


def provenance(
    source: Source, models: Models, name: str, ref: str, depth: int = 20
) -> tuple[dict[str, Any], Graph]:
    """The full provenance of one model version: the registry's account (version, aliases, MLflow run, gate) and
    the lineage of the run that trained it, version by version back to the warehouse table."""
    registered = models.version(name, ref)
    number = str(registered["version"])
    trained = next((v for v in source.dataset_versions(MODEL_NAMESPACE, name) if v.version == number), None)
    if trained is None or trained.run_id is None:
        from common.usecases import script_for

        raise ConfigError(
            f"models:/{name}/{number} is in the registry but in no lineage event: it was trained before lineage "
            f"was recorded here, or its events wait undelivered (run {script_for('deliver_lineage')}, with "
            "--backfill for the history)"
        )
    runs = source.upstream_runs(trained.run_id, depth)
    refs = [r for run in runs for r in run.inputs + run.outputs]
    versioned = [r for r in refs if r.version and kind_of(r.namespace) == "FILE"]
    data_tag = versioned[0].version if versioned else None
    summary = {
        "query": "provenance",
        "model": {**registered, "lineage_run": trained.run_id},
        "tables": _unique([r for r in refs if kind_of(r.namespace) == "TABLE"]),
        "extracts": _unique([o for run in runs if _reads_kind(run, "TABLE") for o in run.outputs]),
        "data_versions": _unique(versioned),
        "validation": _validations(source, runs),
        "feature_views": _unique([r for r in refs if kind_of(r.namespace) == "FEATURE_VIEW"]),
        "runs": [_run_line(run) for run in sorted(runs, key=lambda r: r.end or "")],  # in the order they ran
        "consistent": data_tag is None or _same_tag(data_tag, registered.get("data_tag")),
    }
    return summary, _run_graph(runs)


def _reads_kind(run: RunNode, kind: str) -> bool:
    return any(kind_of(r.namespace) == kind for r in run.inputs)


def _unique(refs: list[VersionRef]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in refs:
        seen.setdefault(
            (r.id, r.version), {"id": r.id, "namespace": r.namespace, "name": r.name, "version": r.version}
        )
    return list(seen.values())


def _same_tag(lineage_version: str, registry_tag: str | None) -> bool:
    """The lineage's data version ('data-v3 (md5 ...)') names the tag the registry recorded ('data-v3')."""
    return registry_tag is None or matches(lineage_version, registry_tag)


def _validations(source: Source, runs: list[RunNode]) -> list[dict[str, Any]]:
    """Each check run on the data on the way: its Great Expectations results (the dataQualityAssertions input
    facet), its status, and the report it wrote."""
    found = []
    for run in runs:
        for did, facets in source.input_facets(run.run_id).items():
            checks = (facets.get("dataQualityAssertions") or {}).get("assertions") or []
            if not checks:
                continue
            version = next((r.version for r in run.inputs if r.id == did), None)
            found.append(
                {
                    "job": run.job,
                    "run": run.run_id,
                    "status": run.status,
                    "dataset": did,
                    "version": version,
                    "expectations": len(checks),
                    "passed": sum(1 for c in checks if c.get("success")),
                    "failed": [_check(c) for c in checks if not c.get("success")],
                    "reports": [o.name for o in run.outputs],
                }
            )
    return found


def _check(check: dict[str, Any]) -> str:
    return (
        f"{check.get('assertion')}({check['column']})" if check.get("column") else str(check.get("assertion"))
    )


def _run_line(run: RunNode) -> dict[str, Any]:
    def names(refs: list[VersionRef]) -> list[str]:
        return [f"{r.name}@{r.version}" if r.version else r.name for r in refs]

    return {
        "job": run.job,
        "run": run.run_id,
        "status": run.status,
        "end": run.end,
        "read": names(run.inputs),
        "wrote": names(run.outputs),
    }


def _run_graph(runs: list[RunNode]) -> Graph:
    """A picture of run-level lineage: each run's job, and each dataset at the version it had."""
    nodes: dict[str, Node] = {}

    def dataset(ref: VersionRef) -> str:
        nid = f"{ref.id}@{ref.version}" if ref.version else ref.id
        facets = {"version": {"datasetVersion": ref.version}} if ref.version else {}
        nodes.setdefault(
            nid, Node(nid, "DATASET", {"namespace": ref.namespace, "name": ref.name, "facets": facets})
        )
        return nid

    for run in runs:
        jid = job_id(run.job_namespace, run.job)
        nodes.setdefault(jid, Node(jid, "JOB", {"namespace": run.job_namespace, "name": run.job}))
        for ref in run.inputs:
            did = dataset(ref)
            _link(nodes, did, jid)
        for ref in run.outputs:
            _link(nodes, jid, dataset(ref))
    return Graph(nodes)


def _link(nodes: dict[str, Node], origin: str, destination: str) -> None:
    if destination not in nodes[origin].out_edges:
        nodes[origin].out_edges.append(destination)
        nodes[destination].in_edges.append(origin)
