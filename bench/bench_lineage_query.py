"""Benchmark a lineage impact query on the embedded store: the events of BENCH_RUNS (default 1,000) synthesized UC1
pipeline runs (common.lineage.sample: 12 events per run, every run training a model version), and "what does the
warehouse table feed?" answered from them: read the events, build the store, walk the graph, and check every model
version's run-level lineage.

Targets: the query in at most 1 s, with a peak RSS under 300 MB. Each figure is measured in a fresh interpreter; the
anchor is the same interpreter only reading and parsing the events file (orjson, as the store does), the floor any
answer from that file pays, so `ratio` says what the store and the walk add to it.

    .venv/bin/python bench/bench_lineage_query.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchlib import entry, measured_child, report

TARGET_S, TARGET_MB = 1.0, 300


def child(mode: str, folder: Path) -> dict[str, object]:
    """In the child: answer (or only parse, the anchor) and time it."""
    from common.lineage import query
    from common.lineage.sample import MODEL, TABLE
    from common.lineage.store import EventStore, read_events

    start = time.perf_counter()
    if mode == "parse":
        import orjson  # the parser the store uses

        lines = (folder / "events.jsonl").read_bytes().splitlines()
        found = {"events": len([orjson.loads(line) for line in lines])}
    else:
        store = EventStore(read_events(folder))
        answer, _ = query.impact(store, None, query.resolve(store, TABLE), 20, [MODEL])
        found = {"model_versions": len(answer["model_versions"]), "jobs": len(answer["jobs"])}
    return {"seconds": time.perf_counter() - start, **found}


def measured(mode: str, folder: Path) -> dict[str, object]:
    return measured_child(__file__, mode, str(folder))


def main() -> int:
    from common.lineage.sample import pipeline_events, write_jsonl

    runs = int(os.environ.get("BENCH_RUNS", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "lineage"
        folder.mkdir()
        events = write_jsonl(pipeline_events(runs), folder / "events.jsonl")
        size_mb = (folder / "events.jsonl").stat().st_size / 2**20
        anchor = measured("parse", folder)
        impact = measured("impact", folder)
    seconds = float(impact["seconds"])
    figures = {
        "bench": "lineage_query",
        "pipeline_runs": runs,
        "events": events,
        "events_mb": round(size_mb, 1),
        "anchor_parse_s": round(float(anchor["seconds"]), 3),
        "impact_s": round(seconds, 3),
        "ratio": round(seconds / float(anchor["seconds"]), 2),
        "model_versions_found": impact["model_versions"],
        "anchor_peak_rss_mb": anchor["peak_rss_mb"],
        "peak_rss_mb": impact["peak_rss_mb"],
        "target_s": TARGET_S,
        "target_mb": TARGET_MB,
        "met": seconds <= TARGET_S
        and int(impact["peak_rss_mb"]) < TARGET_MB
        and impact["model_versions"] == runs,
    }
    return report(figures)


if __name__ == "__main__":
    entry(main, child)
