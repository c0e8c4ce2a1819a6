"""The chain's validation step (UC1 step 03): validate the versioned data with a Great Expectations suite built from
config; the result JSON and Data Docs land under <workspace>/reports/, with what step 01's declared parsing did
(counts before and after). Failure exits 3 listing each failed expectation; nothing after it runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.chain import VALIDATE, VERSION
from common.chain.records import Validated, Versioned
from common.data.expectations import build_suite, describe_failure
from common.errors import DataValidationError
from common.settings import DatasetCfg, Settings
from common.step import StepResult
from common.workspace import Workspace, write_text

if TYPE_CHECKING:
    import pandas as pd

STEP = VALIDATE
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    version = ws.require(VERSION, f"run {VERSION}.py first")
    versioned = Versioned.of(version)
    tag, path = versioned.tag, Path(versioned.path)
    df = read_extract(path)
    parsing, id_type = _extract_facts(path, cfg.dataset)
    reports = ws.dir("reports")
    result, docs = validate(df, cfg.dataset, reports / "data_docs", id_type)
    report = reports / "validation" / f"{cfg.dataset.table}_{tag}.json"
    write_text(report, json.dumps({**result, "parsing": parsing}, indent=2, default=str))
    for column, counts in parsing.items():
        log.info("parsed %s: %s", column, json.dumps(counts, default=str))
    failures = failed_expectations(result, len(df), parsing)
    stats = result["statistics"]
    log.info(
        "validated %s (%d rows): %d/%d expectations met; report %s; Data Docs %s",
        tag,
        len(df),
        stats["successful_expectations"],
        stats["evaluated_expectations"],
        report,
        docs,
    )
    if failures:
        raise DataValidationError(
            f"data version {tag} failed {len(failures)} expectation(s) "
            f"(report {report}):\n  - " + "\n  - ".join(failures)
        )
    return StepResult(
        step=STEP,
        outputs={
            **Validated(tag=tag, path=str(path), id_type=id_type).dump(),
            "report": str(report),
            "data_docs": docs,
            "parsing": parsing,
        },
        metrics={
            "rows": len(df),
            "expectations": stats["evaluated_expectations"],
            "success_percent": stats["success_percent"],
        },
        datasets_read=version.datasets_written,
        datasets_written=[report.as_uri()],  # the verdict step 04 builds on: lineage joins them through it
        facts={uri: {**_facts(df, result), **_version(version, uri)} for uri in version.datasets_written},
    )


def _version(version: StepResult, uri: str) -> dict[str, Any]:
    """The data version as step 02 recorded it (tag and md5), so every reader names the same version."""
    known = version.facts.get(uri, {})
    return {"version": known["version"]} if "version" in known else {}


def _facts(df: pd.DataFrame, result: dict[str, Any]) -> dict[str, Any]:
    """For lineage: the row and null counts of the validated data and each expectation's outcome."""
    assertions = [
        {
            "assertion": r["expectation_config"]["type"],
            "column": r["expectation_config"]["kwargs"].get("column"),
            "success": bool(r["success"]),
        }
        for r in result["results"]
    ]
    nulls = {str(c): int(n) for c, n in df.isna().sum().items()}
    return {"rows": len(df), "nulls": nulls, "assertions": assertions}


def read_extract(path: Path) -> pd.DataFrame:
    """The Parquet extract as pandas: integers stay integers (nullable) even with nulls; times as naive UTC."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name in df.columns:
        if isinstance(df[name].dtype, pd.DatetimeTZDtype):
            df[name] = df[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def _extract_facts(path: Path, ds: DatasetCfg) -> tuple[dict[str, Any], str]:
    """What step 01 recorded in the extract's schema: the parsing counts and the id type."""
    import pyarrow.parquet as pq

    from common.data.schema import id_type_of, parsing_report

    return parsing_report(path), id_type_of(pq.read_schema(path), ds.id_column)


def validate(
    df: pd.DataFrame, ds: DatasetCfg, docs_dir: Path, id_type: str = "int"
) -> tuple[dict[str, Any], str]:
    """Run the config's suite through a Checkpoint that also renders Data Docs; returns (result, docs URL)."""
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}  # type: ignore[assignment]  # GE takes the plain dict
    ctx.add_data_docs_site(
        site_name="workspace",
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]  # SiteBuilder's own option
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    batch = (
        ctx.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(ds.table)
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = ctx.suites.add(build_suite(ds, f"{ds.table}_suite", id_type))
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=ds.table, data=batch, suite=suite)
    )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=f"{ds.table}_checkpoint",
            validation_definitions=[definition],
            result_format="SUMMARY",
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["workspace"])],
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": df})
    (result,) = run.run_results.values()
    return result.to_json_dict(), str(docs_dir / "index.html")


def failed_expectations(
    result: dict[str, Any], rows: int, parsing: dict[str, Any] | None = None
) -> list[str]:
    """A line per failed expectation; a missing column is reported once, not once per rule on it. A null
    count on a parsed column says how many of the nulls were blank text."""
    missing = {
        r["expectation_config"]["kwargs"]["column"]
        for r in result["results"]
        if not r["success"] and r["expectation_config"]["type"] == "expect_column_to_exist"
    }
    lines = []
    for r in result["results"]:
        kind, kwargs = r["expectation_config"]["type"], r["expectation_config"]["kwargs"]
        if r["success"] or (kwargs.get("column") in missing and kind != "expect_column_to_exist"):
            continue
        line = describe_failure(kind, kwargs, r.get("result") or {}, rows)
        blank = (parsing or {}).get(kwargs.get("column"), {}).get("blank_to_null")
        if kind == "expect_column_values_to_not_be_null" and blank:
            line += f"; {blank} of them blank text made missing by dataset.parse_numbers"
        lines.append(line)
    return lines
