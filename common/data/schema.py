"""Pure transforms of the extract: its Parquet schema, the quoted SELECT, the id type, and warehouse chunks cast
to the schema with the declared parsing (numbers stored as text, text labels, the extraction stamp)."""

from __future__ import annotations

import json
import numbers
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from common.data.parsing import TextLabels, TextNumbers
from common.errors import DataValidationError
from common.settings import DatasetCfg

if TYPE_CHECKING:
    from sqlalchemy.sql import Select

IdType = Literal["int", "str"]
PARSING_KEY = b"mlops.parsing"  # Parquet metadata: what the declared parsing did, for the validation report
_ID_TYPES = {"int": pa.int64(), "str": pa.string()}


def arrow_schema(ds: DatasetCfg, id_type: IdType) -> pa.Schema:
    """The extract's schema, from config and the resolved id type: typed, in config order, no pandas metadata."""
    fields = [
        pa.field(ds.id_column, _ID_TYPES[id_type]),
        pa.field(ds.event_time, pa.timestamp("us", tz="UTC")),
    ]
    fields += [pa.field(c, pa.float64()) for c in ds.numeric]
    fields += [pa.field(c, pa.string()) for c in [*ds.categorical, *ds.attributes]]  # attributes as text
    fields.append(pa.field(ds.target, pa.int64()))
    return pa.schema(fields)


def id_type_of(schema: pa.Schema, id_column: str) -> IdType:
    """The id type an extract (or a feature source) was written with."""
    kind = schema.field(id_column).type
    return "str" if pa.types.is_string(kind) or pa.types.is_large_string(kind) else "int"


def resolve_id_type(ds: DatasetCfg, warehouse_type: Any) -> IdType:
    """`dataset.id_type`, or for auto the warehouse column's SQLAlchemy type: numbers are int, text is str."""
    if ds.id_type != "auto":
        return ds.id_type
    from sqlalchemy import types

    # a float column of whole numbers (SQLite REAL, NUMERIC) reads as int; the cast refuses a fractional id
    if isinstance(warehouse_type, types.Integer | types.Numeric | types.Float):
        return "int"
    if isinstance(warehouse_type, types.String | types.Uuid):
        return "str"
    raise DataValidationError(
        f"column {ds.id_column}: cannot tell the id type from the warehouse type {warehouse_type}; "
        "set dataset.id_type to int or str"
    )


def missing_columns(found: list[str], ds: DatasetCfg) -> list[str]:
    have = set(found)
    return [c for c in ds.source_columns if c not in have]


def extract_query(ds: DatasetCfg) -> Select:
    """SELECT the configured columns ORDER BY id; SQLAlchemy quotes each name that needs it (mixed case,
    spaces, reserved words), so names are used exactly as the warehouse has them."""
    from sqlalchemy import column, select, table

    cols: list[Any] = [column(c) for c in ds.source_columns]
    # ORDER BY id (and time, for a table with a row per customer and time): the same table gives the same bytes,
    # so an unchanged table is not a new data version
    order: list[Any] = [column(ds.id_column), *([column(ds.timestamp)] if ds.timestamp else [])]
    return select(*cols).select_from(table(ds.table)).order_by(*order)


class Cast:
    """Casts warehouse chunks to the extract's schema, applying the declared parsing and counting what it did;
    `problems()` after the last chunk lists every value the parsing refused, over the whole table."""

    def __init__(self, ds: DatasetCfg, schema: pa.Schema, stamped_at: datetime | None) -> None:
        self.ds, self.schema = ds, schema
        self.id_type = id_type_of(schema, ds.id_column)
        self.stamped_at = None if ds.timestamp else stamped_at
        self.numbers = {c: TextNumbers(c) for c in ds.parse_numbers}
        self.attributes = set(ds.attributes)
        self.labels = (
            TextLabels(ds.target, ds.positive_label, ds.negative_labels) if ds.positive_label else None
        )

    def table(self, chunk: pd.DataFrame) -> pa.Table:
        columns = {}
        for field in self.schema:
            if self.stamped_at is not None and field.name == self.ds.event_time:
                columns[field.name] = pa.array([self.stamped_at] * len(chunk), type=field.type)
                continue
            values = chunk[field.name]
            if field.name in self.numbers:
                values = self.numbers[field.name].parse(values)
            elif self.labels is not None and field.name == self.ds.target:
                values = self.labels.parse(values)
            elif field.name in self.attributes:
                values = as_text(values)
            columns[field.name] = _cast(values, field, self.ds)
        return pa.Table.from_pydict(columns, schema=self.schema)

    def problems(self) -> list[str]:
        parsers: list[Any] = [*self.numbers.values(), *([self.labels] if self.labels else [])]
        return [p for p in (parser.problem() for parser in parsers) if p]

    def report(self) -> dict[str, Any]:
        """Counts before and after parsing, per parsed column."""
        out: dict[str, Any] = {c: n.report() for c, n in self.numbers.items()}
        if self.labels is not None:
            out[self.ds.target] = self.labels.report()
        if self.stamped_at is not None:
            out[self.ds.event_time] = {"stamped_at": self.stamped_at.isoformat()}
        return out

    def metadata(self) -> dict[bytes, bytes]:
        return {PARSING_KEY: json.dumps(self.report(), default=str).encode()}


def as_text(values: pd.Series) -> pd.Series:
    """An attribute column as text groups, value by value: a whole number without a fraction (1, 1.0 and
    NUMERIC 1.00 are all "1", whichever chunk they come in), any other value as its text, missing as missing."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = np.array([*(group_text(u) for u in uniques), None], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype="string")


def group_text(value: Any) -> str:
    """A value as a group's label: whole numbers without a fraction, anything else as its text."""
    whole = isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)
    return str(int(value)) if whole and float(value).is_integer() else str(value)


def parsing_report(path: Path) -> dict[str, Any]:
    """What the declared parsing did to the extract at `path` ({} for none). It is in the Parquet footer, which
    pyarrow's schema does not show when the file also holds its Arrow schema."""
    import pyarrow.parquet as pq

    raw = (pq.read_metadata(path).metadata or {}).get(PARSING_KEY)
    return json.loads(raw) if raw else {}


def _cast(values: pd.Series, field: pa.Field, ds: DatasetCfg) -> pa.Array:
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
            f"column {field.name}: cannot be read as {field.type} ({exc}); examples: {bad}{_hint(field, bad, ds)}"
        ) from None


def _hint(field: pa.Field, bad: list[Any], ds: DatasetCfg) -> str:
    """The config key that would read these values, when there is one."""
    if field.name == ds.id_column:
        return "; text ids need dataset.id_type: str"
    if field.name == ds.target:
        return "; a text label needs dataset.positive_label and dataset.negative_labels"
    if field.name in ds.numeric and bad and all(isinstance(v, str) and not v.strip() for v in bad):
        return f"; blank text as missing: dataset.parse_numbers: {{{field.name}: blank_as_null}}"
    return ""


def _examples(values: pd.Series, field: pa.Field) -> list[object]:
    if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
        as_num = pd.to_numeric(values, errors="coerce")
        bad = values[as_num.isna() & values.notna()]
        if pa.types.is_integer(field.type) and bad.empty:
            bad = values[as_num.notna() & (as_num % 1 != 0)]
        return bad.drop_duplicates().head(5).tolist()
    return values.drop_duplicates().head(5).tolist()


def parquet_facts(path: Path) -> dict[str, Any]:
    """Schema, row count and null counts of a Parquet file, from its footer alone (no data read): what lineage
    reports of an extract or a feature source."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    schema = meta.schema.to_arrow_schema()
    nulls = dict.fromkeys(schema.names, 0)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            if column.path_in_schema in nulls and stats is not None and stats.has_null_count:
                nulls[column.path_in_schema] += stats.null_count
    return {
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "rows": meta.num_rows,
        "nulls": nulls,
    }
