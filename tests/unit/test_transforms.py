import pandas as pd
import pyarrow as pa
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.data.schema import Cast, arrow_schema, missing_columns
from common.errors import DataValidationError

DS = load_config(environ={}).dataset


def cast(df: pd.DataFrame, ds=DS, id_type: str = "int") -> pa.Table:
    """One chunk through step 01's cast, as the default config reads it."""
    return Cast(ds, arrow_schema(ds, id_type), None).table(df)


def test_schema_is_explicit_and_in_config_order() -> None:
    schema = arrow_schema(DS, "int")
    assert schema.names == DS.columns
    assert schema.field("customer_id").type == pa.int64()
    assert schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("age").type == pa.float64()
    assert schema.field("gender").type == pa.string()
    assert schema.field("churn").type == pa.int64()
    assert schema.metadata is None


def test_chunk_from_sqlite_text_timestamps_and_null_ids_casts_exactly() -> None:
    df = generate(4, seed=3)
    expected_ts = df["event_timestamp"].iloc[1]
    df["event_timestamp"] = df["event_timestamp"].astype(str)  # SQLite hands back text
    df["customer_id"] = df["customer_id"].astype("float64")
    df.loc[0, "customer_id"] = None
    table = cast(df)
    assert table.column("customer_id").to_pylist() == [None, 2, 3, 4]
    assert table.column("event_timestamp")[1].as_py() == expected_ts.to_pydatetime()
    assert table.column("gender").to_pylist() == df["gender"].tolist()


def test_a_value_that_cannot_be_cast_names_column_and_example() -> None:
    df = generate(3).astype({"age": object})
    df.loc[1, "age"] = "forty"
    with pytest.raises(DataValidationError) as err:
        cast(df)
    assert "column age" in str(err.value) and "forty" in str(err.value)


def test_fractional_ids_are_rejected_with_examples() -> None:
    df = generate(3)
    df["customer_id"] = df["customer_id"] + 0.5
    with pytest.raises(DataValidationError, match=r"customer_id.*1\.5"):
        cast(df)


def test_missing_columns_lists_each_absent_configured_column() -> None:
    present = [c for c in DS.columns if c not in ("contract", "churn")] + ["extra"]
    assert missing_columns(present, DS) == ["contract", "churn"]
    assert missing_columns(list(pd.Index(DS.columns)), DS) == []
