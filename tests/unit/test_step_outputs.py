"""Outputs: what a later step reads of an earlier one is a typed record declared beside the writer, so a missing or
misspelt key fails where it is read, naming the step that did not record it."""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.chain.records import Scored, Validated
from common.errors import MissingInputError
from common.step import Outputs, StepResult

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Made(Outputs):
    path: str
    rows: int = 0


def test_a_record_reads_its_fields_and_leaves_the_rest() -> None:
    result = StepResult("uc9_01_make", outputs={"path": "/x.parquet", "rows": 3, "other": True})
    assert Made.of(result) == Made("/x.parquet", 3)
    assert {**Made("/y", 1).dump(), "other": 1} == {"path": "/y", "rows": 1, "other": 1}


def test_a_field_with_a_default_may_be_missing_from_an_older_record() -> None:
    assert Made.of(StepResult("uc9_01_make", outputs={"path": "/x"})).rows == 0
    assert Validated.of(StepResult("v", outputs={"tag": "data-v1", "path": "/d"})).id_type == "int"
    assert Scored.of(StepResult("b", status="skipped", outputs={"reason": "nothing new"})) == Scored()


def test_a_missing_key_names_the_step_the_keys_and_what_to_run() -> None:
    with pytest.raises(MissingInputError) as err:
        Validated.of(StepResult("uc1_03_data_validation_ge", outputs={"tag": "data-v1"}))
    assert str(err.value) == (
        "uc1_03_data_validation_ge recorded no path (Validated): run uc1_03_data_validation_ge.py again"
    )


def test_no_step_reads_another_s_outputs_by_key() -> None:
    """Steps read each other's outputs through their records; what is left reading `.outputs[...]` is the
    records' own base (common/step.py), the history's key figures of any result (common/cli.py), KFP's task
    outputs (the compiled pipeline's wiring) and a step reading its own result (uc4_02)."""
    reads = re.compile(r"\.outputs(\[|\.get\()")
    files = [*ROOT.glob("common/**/*.py"), *ROOT.glob("uc*_*/*.py")]
    found = sorted(str(p.relative_to(ROOT)) for p in files if reads.search(p.read_text()))
    assert found == [
        "common/cli.py",
        "common/model/kfp_pipeline.py",
        "common/step.py",
        "uc4_data_lineage/uc4_02_query_lineage_marquez.py",
    ]
