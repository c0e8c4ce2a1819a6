"""OpenLineage 2 run events of a step or pipeline run, built with the openlineage-python client's classes: START,
then COMPLETE with the datasets the step recorded, or FAIL with its error message. Pure but for the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from common.lineage.naming import DatasetRef, dataset_of

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

    from common.step import StepResult

INTEGRATION = "MLOPS_STARTER"  # the jobType facet's integration: who ran the job


@dataclass(frozen=True)
class RunContext:
    """One run of a job, and the run it belongs to (a step's use-case pipeline; a pipeline's run_all)."""

    job: str
    run_id: str
    job_type: str  # STEP | PIPELINE
    parent: RunContext | None = None

    @property
    def root(self) -> RunContext:
        return self.parent.root if self.parent else self


def run_event(
    state: str,
    ctx: RunContext,
    namespace: str,
    result: StepResult | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> RunEvent:
    """The event of `ctx` in `state` (START, COMPLETE, FAIL): inputs and outputs from `result`."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job

    run_facets: dict[str, Any] = {}
    if ctx.parent is not None:
        run_facets["parent"] = _parent(ctx.parent, namespace)
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python"
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType=ctx.job_type
        )
    }
    facts = result.facts if result is not None else {}
    reads = _refs(result, "read")
    inputs = [
        InputDataset(
            r.namespace,
            r.name,
            inputFacets=_input_facets(facts.get(u, {})),
            facets=_facets(r, facts.get(u, {})),
        )
        for u, r in reads
    ]
    source = reads[0][1] if reads else None
    outputs = [
        OutputDataset(r.namespace, r.name, facets=_facets(r, facts.get(u, {}), source))
        for u, r in _refs(result, "written")
    ]
    return RunEvent(
        eventType=RunState[state],
        eventTime=(now or datetime.now(UTC)).isoformat(),
        run=Run(runId=ctx.run_id, facets=run_facets),
        job=Job(namespace=namespace, name=ctx.job, facets=job_facets),
        inputs=inputs,
        outputs=outputs,
    )


def _refs(result: StepResult | None, which: str) -> list[tuple[str, DatasetRef]]:
    if result is None:
        return []
    uris = result.datasets_read if which == "read" else result.datasets_written
    return [(u, dataset_of(u)) for u in dict.fromkeys(uris)]  # each dataset once, in order


def _facets(ref: DatasetRef, facts: dict[str, Any], source: DatasetRef | None = None) -> dict[str, Any]:
    """datasetType, version and dataSource from the name; schema, dataQualityMetrics and columnLineage from
    what the step recorded of the dataset."""
    from openlineage.client.facet_v2 import data_quality_metrics_dataset as dq
    from openlineage.client.facet_v2 import dataset_type_dataset, dataset_version_dataset, datasource_dataset
    from openlineage.client.facet_v2 import schema_dataset as sd

    facets: dict[str, Any] = {
        "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType=ref.kind)
    }
    version = facts.get("version", ref.version)  # the step's own account (e.g. a DVC tag with its md5) wins
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version)
    if ref.source is not None:
        facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(name=ref.source, uri=ref.source)
    if "schema" in facts:
        columns = [sd.SchemaDatasetFacetFields(name=c["name"], type=c["type"]) for c in facts["schema"]]
        facets["schema"] = sd.SchemaDatasetFacet(fields=columns)
    if "rows" in facts:
        facets["dataQualityMetrics"] = dq.DataQualityMetricsDatasetFacet(
            rowCount=facts["rows"],
            columnMetrics={c: dq.ColumnMetrics(nullCount=n) for c, n in facts.get("nulls", {}).items()},
        )
    if "derived_from" in facts and source is not None:
        facets["columnLineage"] = _column_lineage(facts["derived_from"], source)
    return facets


def _input_facets(facts: dict[str, Any]) -> dict[str, Any]:
    """dataQualityAssertions: an input facet, the checks run on what a step read."""
    if "assertions" not in facts:
        return {}
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa

    checks = [
        dqa.Assertion(assertion=a["assertion"], success=a["success"], column=a.get("column"))
        for a in facts["assertions"]
    ]
    return {"dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=checks)}


def _column_lineage(derived_from: dict[str, list[str]], source: DatasetRef) -> Any:
    """Each derived column and the source columns its expression reads."""
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    def inputs(columns: list[str]) -> list[Any]:
        return [cl.InputField(namespace=source.namespace, name=source.name, field=c) for c in columns]

    return cl.ColumnLineageDatasetFacet(
        fields={
            column: cl.Fields(
                inputFields=inputs(read),
                transformationType="TRANSFORMATION",
                transformationDescription="features.derived",
            )
            for column, read in derived_from.items()
        }
    )


def _parent(parent: RunContext, namespace: str) -> Any:
    from openlineage.client.facet_v2 import parent_run

    root = parent.root
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=namespace, name=parent.job),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=root.run_id),
            job=parent_run.RootJob(namespace=namespace, name=root.job),
        ),
    )
