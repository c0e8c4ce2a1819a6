"""A customers table by config alone: id types, text labels, blanks as missing, no timestamp, quoted names, Feast
names and the example's config. Pure parts; the PostgreSQL and end-to-end runs are in integration/ and e2e/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import types
from sqlalchemy.dialects import postgresql, sqlite

from common.config import load_config
from common.data.parsing import TextLabels, TextNumbers
from common.data.schema import Cast, arrow_schema, extract_query, id_type_of, parsing_report, resolve_id_type
from common.errors import ConfigError, DataValidationError
from common.features.expressions import evaluate
from common.features.feast_store import feast_names, from_feast
from common.settings import DatasetCfg, FeaturesCfg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = load_config(ROOT / "examples" / "telco_churn.yaml", environ={})
STAMP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ds(**extra: object) -> DatasetCfg:
    base = {"table": "t", "id_column": "id", "target": "y", "numeric": ["x"], "categorical": ["c"]}
    return DatasetCfg.model_validate(base | extra)


@pytest.mark.parametrize(
    ("warehouse_type", "expected"),
    [
        (types.BigInteger(), "int"),
        (types.Integer(), "int"),
        (types.Numeric(10, 0), "int"),
        (types.Float(), "int"),  # whole numbers in a REAL column; the cast refuses fractions
        (types.Text(), "str"),
        (types.VARCHAR(20), "str"),
        (postgresql.UUID(), "str"),
    ],
)
def test_auto_reads_the_id_type_from_the_warehouse_column(warehouse_type: object, expected: str) -> None:
    assert resolve_id_type(_ds(), warehouse_type) == expected


def test_a_declared_id_type_wins_and_an_unreadable_one_names_the_key() -> None:
    assert resolve_id_type(_ds(id_type="str"), types.Integer()) == "str"
    with pytest.raises(DataValidationError, match=r"column id: cannot tell the id type .*dataset\.id_type"):
        resolve_id_type(_ds(), types.DateTime())


def test_text_ids_stay_text_and_integer_ids_read_as_text() -> None:
    ds = _ds(id_type="str", timestamp="ts")
    chunk = pd.DataFrame({"id": [7, 8], "ts": ["2026-01-01", "2026-01-02"], "x": [1, 2], "c": ["a", "b"]})
    table = Cast(ds, arrow_schema(ds, "str"), None).table(chunk.assign(y=[0, 1]))
    assert table.column("id").to_pylist() == ["7", "8"] and id_type_of(table.schema, "id") == "str"
    text = chunk.assign(id=["7590-VHVEG", "5575-GNVDE"], y=[1, 0])
    assert Cast(ds, arrow_schema(ds, "str"), None).table(text).column("id").to_pylist() == text["id"].tolist()


def test_labels_map_to_one_and_zero_without_case_or_spaces() -> None:
    labels = TextLabels("Churn", "Yes", ["No"])
    out = labels.parse(pd.Series(["Yes", "no", " YES ", None, "No"]))
    assert out.tolist() == [1, 0, 1, pd.NA, 0]
    assert labels.problem() is None
    assert labels.report() | {"other": None} == {
        "positive_label": "Yes",
        "negative_labels": ["No"],
        "to_1": 2,
        "to_0": 2,
        "null": 1,
        "other": None,
    }
    assert labels.parse(pd.Series([None, None], dtype=object)).isna().all()  # a chunk of nulls only
    assert labels.counts["null"] == 3
    booleans = TextLabels("churned", "true", ["false"])
    assert booleans.parse(pd.Series([True, False])).tolist() == [1, 0]  # a PostgreSQL boolean column


def test_an_unknown_label_is_counted_over_chunks_and_named() -> None:
    labels = TextLabels("Churn", "Yes", ["No"])
    labels.parse(pd.Series(["Yes", "Maybe"]))
    labels.parse(pd.Series(["Maybe", "unknown", "No"]))
    problem = labels.problem() or ""
    assert (
        "column Churn: 3 value(s) are neither the positive label 'Yes' nor a negative one ['No']" in problem
    )
    assert "{'Maybe': 2, 'unknown': 1}" in problem


def test_blank_text_becomes_missing_and_is_counted() -> None:
    numbers = TextNumbers("TotalCharges")
    out = numbers.parse(pd.Series(["29.85", " ", "", None, "1889.5", "\t"]))
    assert np.isnan(out.tolist()[1:4]).all() and out[[0, 4]].tolist() == [29.85, 1889.5]
    assert numbers.problem() is None
    report = numbers.report()
    assert (report["null_before"], report["blank_to_null"], report["null_after"]) == (1, 3, 4)


def test_text_that_is_not_a_number_fails_with_count_and_examples() -> None:
    numbers = TextNumbers("TotalCharges")
    numbers.parse(pd.Series(["1.5", "abc", "abc", "n/a"] + [f"x{i}" for i in range(6)]))
    problem = numbers.problem() or ""
    assert problem.startswith(
        "column TotalCharges: 9 value(s) are not numbers, e.g. ['abc', 'n/a', 'x0', 'x1'"
    )
    assert len(numbers.examples) == 5


def test_the_cast_collects_problems_over_the_table_and_records_what_it_parsed(tmp_path: Path) -> None:
    ds = EXAMPLE.dataset
    cast = Cast(ds, arrow_schema(ds, "str"), STAMP)
    rows = _telco_rows(3)
    table = cast.table(rows)
    assert cast.problems() == []
    assert table.column("extracted_at").to_pylist() == [STAMP] * 3  # no timestamp column: the extraction time
    assert table.column("Churn").to_pylist() == [1, 0, 0]
    assert table.column("TotalCharges").to_pylist() == [29.85, None, 108.15]
    cast.table(rows.assign(TotalCharges=["abc", " ", "1"]))
    assert cast.problems() == [
        "column TotalCharges: 1 value(s) are not numbers, e.g. ['abc'] "
        "(dataset.parse_numbers.TotalCharges: blank_as_null makes only blank text missing)"
    ]
    with pq.ParquetWriter(tmp_path / "x.parquet", cast.schema) as writer:  # as step 01 writes it
        writer.write_table(table)
        writer.add_key_value_metadata(cast.metadata())
    report = parsing_report(tmp_path / "x.parquet")
    assert report["TotalCharges"]["blank_to_null"] == 2 and report["TotalCharges"]["not_numbers"] == 1
    assert report["extracted_at"] == {"stamped_at": STAMP.isoformat()}


def test_blanks_without_parse_numbers_point_at_the_key() -> None:
    ds = EXAMPLE.dataset.model_copy(update={"parse_numbers": {}})
    with pytest.raises(DataValidationError, match=r"dataset\.parse_numbers: \{TotalCharges: blank_as_null\}"):
        Cast(ds, arrow_schema(ds, "str"), STAMP).table(_telco_rows(3))


@pytest.mark.parametrize(
    ("dialect", "quoted"),
    [
        (postgresql.dialect(), ['"customerID"', '"Payment Method"', '"order"', '"TotalCharges"']),
        (sqlite.dialect(), ['"customerID"', '"Payment Method"', '"order"', '"TotalCharges"']),
    ],
)
def test_column_names_are_quoted_as_the_warehouse_has_them(dialect: object, quoted: list[str]) -> None:
    ds = DatasetCfg(
        table="Telco Customers",
        id_column="customerID",
        target="order",
        timestamp=None,
        numeric=["TotalCharges"],
        categorical=["Payment Method", "gender"],
    )
    sql = str(extract_query(ds).compile(dialect=dialect))
    for name in quoted:
        assert name in sql, sql
    assert 'FROM "Telco Customers" ORDER BY "customerID"' in sql
    assert " gender" in sql and "extracted_at" not in sql  # a plain name stays plain; the stamp is not read


def test_backticks_name_a_column_that_is_not_a_python_name() -> None:
    columns = {"Payment Method": np.array(["Mailed check", "x"], dtype=object), "class": np.array([2.0, 0.0])}
    assert evaluate("(`Payment Method` == 'Mailed check') & (`class` > 1)", columns).tolist() == [True, False]
    with pytest.raises(ValueError, match="unknown column 'Total Charges'"):
        evaluate("`Total Charges` / 2", columns)


def test_feast_names_change_only_what_feast_refuses() -> None:
    ds = _ds(id_column="customerID", numeric=["Monthly Charges", "plan:price"], categorical=["class", "a@b"])
    names = feast_names(FeaturesCfg(), ds)
    assert names["customerID"] == "customerID" and names["Monthly Charges"] == "Monthly Charges"
    assert names["class"] == "class"
    assert names["plan:price"] == "plan_price" and names["a@b"] == "a_b"
    assert from_feast(names) == {"plan_price": "plan:price", "a_b": "a@b"}
    clash = _ds(numeric=["a:b", "a_b"])
    with pytest.raises(ConfigError, match=r"columns 'a:b' and 'a_b' both map to the Feast name 'a_b'"):
        feast_names(FeaturesCfg(), clash)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"positive_label": "Yes"}, "needs dataset.negative_labels"),
        ({"positive_label": "Yes", "negative_labels": ["yes"]}, "is also a negative label"),
        ({"negative_labels": ["No"]}, "dataset.negative_labels needs dataset.positive_label"),
        (
            {"parse_numbers": {"c": "blank_as_null"}},
            "parse_numbers names columns not in dataset.numeric: ['c']",
        ),
        ({"timestamp": None, "numeric": ["extracted_at"]}, "more than once: ['extracted_at']"),
        ({"id_type": "uuid"}, "id_type"),
    ],
)
def test_label_and_parsing_keys_are_checked_at_load(extra: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _ds(**extra)


def test_the_default_config_keeps_its_columns_and_needs_no_new_keys() -> None:
    ds = load_config(environ={}).dataset
    assert ds.id_type == "auto" and ds.positive_label is None and ds.parse_numbers == {}
    assert ds.columns == ds.source_columns and ds.event_time == "event_timestamp"


def test_the_example_config_reads_its_table_shape() -> None:
    ds = EXAMPLE.dataset
    assert ds.timestamp is None and ds.event_time == "extracted_at"
    assert "extracted_at" in ds.columns and "extracted_at" not in ds.source_columns
    assert ds.positive_label == "Yes" and ds.parse_numbers == {"TotalCharges": "blank_as_null"}
    assert EXAMPLE.sample_data.enabled is False


def _telco_rows(n: int) -> pd.DataFrame:
    """Rows as SQLite hands back the example table: text ids, text numbers with a blank, Yes/No labels."""
    return pd.DataFrame(
        {
            "customerID": ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK"][:n],
            "SeniorCitizen": [0, 1, 0][:n],
            "tenure": [1, 0, 2][:n],
            "MonthlyCharges": [29.85, 56.95, 53.85][:n],
            "TotalCharges": ["29.85", " ", "108.15"][:n],
            "gender": ["Female", "Male", "Male"][:n],
            "Partner": ["Yes", "No", "No"][:n],
            "Dependents": ["No", "No", "No"][:n],
            "PhoneService": ["No", "Yes", "Yes"][:n],
            "InternetService": ["DSL", "DSL", "DSL"][:n],
            "Contract": ["Month-to-month", "One year", "Month-to-month"][:n],
            "PaperlessBilling": ["Yes", "No", "Yes"][:n],
            "Payment Method": ["Electronic check", "Mailed check", "Mailed check"][:n],
            "Churn": ["Yes", "No", "no"][:n],
        }
    )


def test_a_schema_is_typed_by_the_resolved_id_type() -> None:
    assert arrow_schema(EXAMPLE.dataset, "str").field("customerID").type == pa.string()
    assert arrow_schema(EXAMPLE.dataset, "int").field("customerID").type == pa.int64()


def test_the_feast_cli_reads_the_id_type_from_the_source_step_04_wrote(tmp_path: Path) -> None:
    from common.features.feast_store import source_id_type

    ds = _ds(id_column="customerID")
    source = tmp_path / "features.parquet"
    assert source_id_type(source, ds) == "int"  # nothing written yet, id_type auto: integers
    assert source_id_type(source, ds.model_copy(update={"id_type": "str"})) == "str"
    pq.write_table(pa.table({"customerID": ["7590-VHVEG"], "x": [1.0]}), source)
    assert source_id_type(source, ds) == "str"


def test_whole_number_labels_match_however_the_driver_hands_them_back() -> None:
    """An integer target with a null reads as floats, NUMERIC as Decimal: "1" still means 1."""
    from decimal import Decimal

    labels = TextLabels("churn", "1", ["0"])
    assert labels.parse(pd.Series([1.0, 0.0, np.nan])).tolist() == [1, 0, pd.NA]
    assert labels.parse(pd.Series([Decimal("1"), Decimal("0.0")], dtype=object)).tolist() == [1, 0]
    assert labels.problem() is None
    assert _ds(positive_label=1, negative_labels=[0]).positive_label == "1"  # YAML 1 as the text "1"


def test_an_unquoted_yaml_yes_is_refused_naming_the_fix() -> None:
    with pytest.raises(
        ValueError, match=r"got the YAML boolean True .*quote the value as the column holds it"
    ):
        _ds(positive_label=True, negative_labels=["No"])


def test_names_the_answer_or_a_column_already_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="id_column 'prediction' is a field of the server's answer"):
        _ds(id_column="prediction")
    clash = _ds(numeric=["a:b"], target="a_b")  # the label rides along with the entity rows
    with pytest.raises(ConfigError, match="columns 'a_b' and 'a:b' both map to the Feast name 'a_b'"):
        feast_names(FeaturesCfg(), clash)
    with pytest.raises(ConfigError, match=r"features\.derived age: the name is already a column"):
        load_config(overrides=['features.derived=[{name: age, expr: "age * 2"}]'], environ={})


def test_a_backtick_inside_quoted_text_is_text() -> None:
    columns = {"a b": np.array(["x`a b`y", "z"], dtype=object)}
    assert evaluate("`a b` == 'x`a b`y'", columns).tolist() == [True, False]


def _extract_file(path: Path, rows: pd.DataFrame, stamp: datetime) -> Path:
    """An extract as step 01 writes it: the cast rows, zstd, with the parsing report in the footer."""
    ds = EXAMPLE.dataset
    cast = Cast(ds, arrow_schema(ds, "str"), stamp)
    with pq.ParquetWriter(path, cast.schema, compression="zstd") as writer:
        writer.write_table(cast.table(rows))
        writer.add_key_value_metadata(cast.metadata())
    return path


def test_an_extract_is_known_by_its_rows_not_by_when_it_was_stamped(tmp_path: Path) -> None:
    """A table without a time column: two extractions of the same rows differ in bytes (the stamp) but have one
    content digest, so the newest extract stands and no new data version is made; one changed value differs."""
    from common.chain.extract import content_digest

    rows = _telco_rows(3)
    first = _extract_file(tmp_path / "a.parquet", rows, STAMP)
    later = _extract_file(tmp_path / "b.parquet", rows, datetime(2026, 4, 1, tzinfo=UTC))
    changed = _extract_file(tmp_path / "c.parquet", rows.assign(tenure=[1, 2, 3]), STAMP)
    assert first.read_bytes() != later.read_bytes()
    assert content_digest(first, "extracted_at") == content_digest(later, "extracted_at")
    assert content_digest(first, "extracted_at") != content_digest(changed, "extracted_at")
    assert content_digest(first, None) != content_digest(later, None)  # a table's own time column counts


def test_an_attribute_is_one_group_per_value_whichever_chunk_it_comes_in() -> None:
    from decimal import Decimal

    from common.data.schema import as_text

    assert as_text(pd.Series([1.0, 2.5, None])).tolist() == [
        "1",
        "2.5",
        pd.NA,
    ]  # 1.0 is "1" beside a fraction
    assert as_text(pd.Series([Decimal("1.00"), Decimal("0")], dtype=object)).tolist() == ["1", "0"]  # NUMERIC
    assert as_text(pd.Series(["A", None], dtype=object)).tolist() == ["A", pd.NA]


def test_a_table_with_a_time_column_is_read_in_id_then_time_order() -> None:
    """A history table (a row per customer and time) reads in one order, so unchanged rows give one digest."""
    sql = str(extract_query(_ds(timestamp="updated_at")).compile(dialect=sqlite.dialect()))
    assert sql.endswith("ORDER BY id, updated_at")
