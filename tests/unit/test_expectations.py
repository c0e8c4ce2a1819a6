from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.chain.validate import failed_expectations, read_extract, validate
from common.config import load_config
from common.data.expectations import build_suite, describe_failure, expectation_specs
from common.data.sample_data import generate
from common.data.schema import Cast, arrow_schema

DS = load_config(environ={}).dataset


def cast(df: pd.DataFrame, ds=DS, id_type: str = "int") -> pa.Table:
    """One chunk through step 01's cast, as the default config reads it."""
    return Cast(ds, arrow_schema(ds, id_type), None).table(df)


def _by(specs: list, cls: str) -> dict:
    return {kw.get("column", "table"): kw for c, kw in specs if c == cls}


def test_specs_follow_the_config() -> None:
    specs = expectation_specs(DS)
    assert _by(specs, "ExpectColumnValuesToBeBetween")["age"] == {
        "column": "age",
        "min_value": 18.0,
        "max_value": 100.0,
    }
    assert _by(specs, "ExpectColumnValuesToNotBeNull")["income"]["mostly"] == 0.95
    assert set(_by(specs, "ExpectColumnToExist")) == set(DS.columns)
    assert set(_by(specs, "ExpectColumnValuesToBeInTypeList")) == set(DS.columns)
    assert _by(specs, "ExpectColumnValuesToBeInSet")["gender"]["value_set"] == ["Female", "Male", "Other"]
    assert list(_by(specs, "ExpectColumnValuesToBeUnique")) == ["customer_id"]
    assert _by(specs, "ExpectTableRowCountToBeBetween")["table"] == {
        "min_value": 100,
        "max_value": 50_000_000,
    }


def test_a_config_change_changes_the_suite() -> None:
    ds = load_config(
        overrides=["dataset.expectations.ranges.age.max=65", "dataset.expectations.unique=[]"], environ={}
    ).dataset
    specs = expectation_specs(ds)
    assert _by(specs, "ExpectColumnValuesToBeBetween")["age"]["max_value"] == 65
    assert _by(specs, "ExpectColumnValuesToBeUnique") == {}


def test_suite_holds_one_gx_expectation_per_spec() -> None:
    import great_expectations as gx

    gx.get_context(mode="ephemeral")  # GX builds suites only inside an active context
    suite = build_suite(DS, "customers_suite")
    specs = expectation_specs(DS)
    assert len(suite.expectations) == len(specs)
    between = [e for e in suite.expectations if e.expectation_type == "expect_column_values_to_be_between"]
    assert {e.column for e in between} == set(DS.expectations.ranges)


def test_failure_lines_name_column_count_and_examples() -> None:
    line = describe_failure(
        "expect_column_values_to_be_between",
        {"column": "age", "min_value": 18, "max_value": 100},
        {"unexpected_count": 2, "partial_unexpected_list": [250, 250, 7]},
        10,
    )
    assert line == "age: 2 of 10 rows outside [18, 100], e.g. [250, 7]"


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    df = generate(300, seed=9)
    df["customer_id"] = df["customer_id"].astype("float64")
    df.loc[3, "customer_id"] = None
    df.loc[4, "customer_id"] = 10.0
    df.loc[5, "age"] = 250.0
    df.loc[6, "gender"] = "Alien"
    tmp = tmp_path_factory.mktemp("v")
    pq.write_table(cast(df), tmp / "x.parquet")
    frame = read_extract(tmp / "x.parquet")
    result, docs = validate(frame, DS, tmp / "docs")
    return failed_expectations(result, len(frame)), Path(docs)


def test_corrupted_data_fails_naming_each_problem(corrupted: tuple[list[str], Path]) -> None:
    failures, _ = corrupted
    text = "\n".join(failures)
    assert "customer_id: null in 1 of 300 rows" in text
    assert "customer_id: duplicates in 2 of 300 rows, e.g. [10]" in text
    assert "age: 1 of 300 rows outside [18.0, 100.0], e.g. [250.0]" in text
    assert "gender: 1 of 300 rows not in ['Female', 'Male', 'Other'], e.g. ['Alien']" in text
    assert len(failures) == 4, failures  # nothing else flagged: types still hold with a null id


def test_data_docs_are_written_where_asked(corrupted: tuple[list[str], Path]) -> None:
    _, docs = corrupted
    assert docs.name == "index.html" and docs.exists()
    assert list((docs.parent / "validations").rglob("*.html"))


def test_clean_data_passes_every_expectation(tmp_path: Path) -> None:
    pq.write_table(cast(generate(500)), tmp_path / "ok.parquet")
    frame = read_extract(tmp_path / "ok.parquet")
    result, _ = validate(frame, DS, tmp_path / "docs")
    assert failed_expectations(result, len(frame)) == []
    assert result["statistics"]["evaluated_expectations"] == len(expectation_specs(DS))
