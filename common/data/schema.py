"""Pure transforms of the extract: the explicit Parquet schema and a chunk cast to it."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from common.errors import DataValidationError
from common.settings import DatasetCfg


def arrow_schema(ds: DatasetCfg) -> pa.Schema:
    """The extract's schema, from config: typed, in the config's column order, no pandas metadata."""
    fields = [pa.field(ds.id_column, pa.int64()), pa.field(ds.timestamp, pa.timestamp("us", tz="UTC"))]
    fields += [pa.field(c, pa.float64()) for c in ds.numeric]
    fields += [pa.field(c, pa.string()) for c in ds.categorical]
    fields.append(pa.field(ds.target, pa.int64()))
    return pa.schema(fields)


def missing_columns(found: list[str], ds: DatasetCfg) -> list[str]:
    have = set(found)
    return [c for c in ds.columns if c not in have]


def to_arrow(chunk: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Cast one chunk read from the warehouse to `schema`; a value that cannot be cast names its column."""
    columns = {}
    for field in schema:
        columns[field.name] = _cast(chunk[field.name], field)
    return pa.Table.from_pydict(columns, schema=schema)


def _cast(values: pd.Series, field: pa.Field) -> pa.Array:
    try:
        if pa.types.is_timestamp(field.type):
            values = pd.to_datetime(values, utc=True, format="ISO8601")
        elif pa.types.is_string(field.type):
            values = values.astype("string")
        else:
            values = pd.to_numeric(values)
        # from_pandas: NaN is null, and a whole-valued float column casts to int64 exactly
        return pa.Array.from_pandas(values, type=field.type)
    except (ValueError, TypeError, pa.ArrowInvalid) as exc:
        bad = _examples(values, field)
        raise DataValidationError(
            f"column {field.name}: cannot be read as {field.type} ({exc}); examples: {bad}"
        ) from None


def _examples(values: pd.Series, field: pa.Field) -> list[object]:
    if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
        as_num = pd.to_numeric(values, errors="coerce")
        bad = values[as_num.isna() & values.notna()]
        if pa.types.is_integer(field.type) and bad.empty:
            bad = values[as_num.notna() & (as_num % 1 != 0)]
        return bad.head(5).tolist()
    return values.head(5).tolist()
