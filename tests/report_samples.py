"""Small inputs for the report pages, no service needed: a canary report as uc2_03_monitor_experiment.py records
it (iterations -> results from common.experiment.judgement.Result), and lineage graphs."""

from __future__ import annotations

from typing import Any

from common.experiment.judgement import Result
from common.lineage.graph import Graph
from common.lineage.sample import pipeline_events
from common.lineage.store import EventStore

LIMITS = {"error_rate": 0.01, "latency_p95_ms": 100.0, "positive_rate_gap": 0.1, "roc_auc_drop": 0.01}


def canary_report(
    stable: dict[str, list[float | None]], candidate: dict[str, list[float | None]]
) -> dict[str, Any]:
    """A report with one look per value; `stable` and `candidate` map each per-version objective to its values,
    and the candidate's list also gives its positive_rate_gap and roc_auc_drop."""
    looks = len(next(iter(candidate.values())))
    iterations = []
    for n in range(looks):
        results = [
            Result(
                name,
                version,
                values[name][n],
                LIMITS[name],
                "pass" if values[name][n] is not None else "insufficient",
            )
            for version, values in (("stable", stable), ("candidate", candidate))
            for name in values
        ]
        iterations.append(
            {"iteration": n + 1, "status": "pass", "results": [r.to_dict() for r in results], "reasons": []}
        )
    return {
        "experiment": "20261204T110000Z-v1-vs-v2",
        "mode": "split",
        "decision": "promote",
        "stable": "1",
        "candidate": "2",
        "reasons": [],
        "objectives": iterations[-1]["results"],
        "iterations": iterations,
        "plan": {"said": "split 50/50, 3 looks"},
        "fair": None,
        "acted": True,
    }


def pipeline_graph() -> Graph:
    """The lineage of two trainings of the sample pipeline (common.lineage.sample)."""
    return EventStore(list(pipeline_events(2, served=lambda i: 1))).graph()


def wide_graph(fan_out: int, chain: int) -> Graph:
    """A job writing `fan_out` files, each read by a chain of `chain` jobs: a layer wider than a window and a
    long chain."""
    items: dict[str, dict[str, Any]] = {}

    def edge(a: str, b: str) -> None:
        for nid in (a, b):
            kind = "JOB" if nid.startswith("job:") else "DATASET"
            namespace = "postgres://db:5432" if nid.startswith("dataset:pg") else "file"
            items.setdefault(
                nid,
                {
                    "id": nid,
                    "type": kind,
                    "data": {"namespace": namespace, "name": nid.split(":")[-1]},
                    "inEdges": [],
                    "outEdges": [],
                },
            )
        items[a]["outEdges"].append({"origin": a, "destination": b})
        items[b]["inEdges"].append({"origin": a, "destination": b})

    edge("dataset:pg:customers", "job:ns:split")
    for f in range(fan_out):
        edge("job:ns:split", f"dataset:file:part_{f}.parquet")
        if f == 0:
            previous = f"dataset:file:part_{f}.parquet"
            for c in range(chain):
                edge(previous, f"job:ns:step_{c}")
                edge(f"job:ns:step_{c}", f"dataset:file:out_{c}.parquet")
                previous = f"dataset:file:out_{c}.parquet"
    return Graph.from_marquez({"graph": list(items.values())})
