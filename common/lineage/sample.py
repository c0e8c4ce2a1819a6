"""Synthesized lineage: the events of N UC1 pipeline runs, built by the same code the step runner uses, for the
lineage benchmarks and tests. Run i extracts the table, versions it as data-v{i}, validates it, builds the
feature view, trains model version i and serves it (`served` picks which version each run serves)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from common.lineage.events import RunContext, run_event
from common.step import StepResult
from common.usecases import owner_of

TABLE = "postgresql+psycopg://etl@db.internal:5432/shop#public.customers"
MODEL = "churn-predictor"
ENDPOINT = "http://127.0.0.1:8085/v1/models/churn-predictor:predict"
REGISTRY = "dvc:///srv/registry/data/customers.parquet"
VIEW = "feast://churn/customer_features"


def pipeline_steps(i: int, served: int) -> list[tuple[str, list[str], list[str], dict[str, Any]]]:
    """(job, reads, writes, facts) of pipeline run i, as UC1's steps record them."""
    extract = f"s3://mlops/raw/customers_{i:05d}.parquet"
    data, report = f"{REGISTRY}@data-v{i}", f"file:///srv/reports/validation/customers_data-v{i}.json"
    version = {"version": f"data-v{i} (md5 {i:032x})"}
    checks = [{"assertion": "expect_column_values_to_not_be_null", "column": "customer_id", "success": True}]
    from common.usecases import step_for

    return [
        (step_for("extract"), [TABLE], [extract], {extract: {"rows": 2000}}),
        (step_for("version"), [extract], [data], {data: version}),
        (step_for("validate"), [data], [report], {data: {**version, "assertions": checks}}),
        (step_for("features"), [data, report], [VIEW], {data: version}),
        (step_for("train"), [VIEW], [f"models:/{MODEL}/{i}"], {}),
        (step_for("serve"), [f"models:/{MODEL}/{served}"], [ENDPOINT], {}),
    ]


def pipeline_events(
    runs: int,
    namespace: str = "churn-mlops",
    start: datetime | None = None,
    served: Callable[[int], int] = lambda i: i,
) -> Iterator[dict[str, Any]]:
    """START and COMPLETE of every step of `runs` pipeline runs, a minute apart, under their pipeline run."""
    from openlineage.client.serde import Serde

    clock = start or datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1, runs + 1):
        pipeline = RunContext(owner_of("extract").package, _uuid(i, 0), "PIPELINE")
        for n, (job, reads, writes, facts) in enumerate(pipeline_steps(i, served(i)), start=1):
            ctx = RunContext(job, _uuid(i, n), "STEP", pipeline)
            result = StepResult(job, datasets_read=reads, datasets_written=writes, facts=facts)
            yield Serde.to_dict(run_event("START", ctx, namespace, now=clock))
            clock += timedelta(seconds=30)
            yield Serde.to_dict(run_event("COMPLETE", ctx, namespace, result, now=clock))
            clock += timedelta(seconds=30)


def _uuid(i: int, n: int) -> str:
    return f"{i:08x}-0000-4000-8000-{n:012x}"


def write_jsonl(events: Iterator[dict[str, Any]], path: Any) -> int:
    count = 0
    with open(path, "w") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")
            count += 1
    return count
