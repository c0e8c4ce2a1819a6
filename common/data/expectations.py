"""The Great Expectations suite as data, built from config, and a readable account of each failure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.settings import DatasetCfg

if TYPE_CHECKING:
    import great_expectations as gx

# dtype names GX resolves for pandas (numpy names, or pandas extension dtype class names). GX cannot match a
# tz-aware dtype, so timestamps are validated as naive UTC (see read_extract).
INT_TYPES = ["int64", "int32", "Int64Dtype", "Int32Dtype"]
FLOAT_TYPES = ["float64", "float32", "Float64Dtype", *INT_TYPES]
STR_TYPES = ["str", "StringDtype"]  # an object column is checked value by value
TIME_TYPES = ["datetime64[us]", "datetime64[ns]"]
Spec = tuple[str, dict[str, Any]]


def expectation_specs(ds: DatasetCfg, id_type: str = "int") -> list[Spec]:
    """(GX expectation class, kwargs) for every check the config asks for, ids of the extract's `id_type`;
    pure, so unit-testable."""
    exp = ds.expectations
    types = {
        ds.id_column: STR_TYPES if id_type == "str" else INT_TYPES,
        ds.event_time: TIME_TYPES,
        ds.target: INT_TYPES,
        **dict.fromkeys(ds.numeric, FLOAT_TYPES),
        **dict.fromkeys([*ds.categorical, *ds.attributes], STR_TYPES),
    }
    specs: list[Spec] = [
        ("ExpectTableRowCountToBeBetween", {"min_value": exp.row_count.min, "max_value": exp.row_count.max})
    ]
    specs += [("ExpectColumnToExist", {"column": c}) for c in ds.columns]
    specs += [("ExpectColumnValuesToBeInTypeList", {"column": c, "type_list": types[c]}) for c in ds.columns]
    specs += [("ExpectColumnValuesToNotBeNull", {"column": c, "mostly": m}) for c, m in exp.not_null.items()]
    specs += [
        ("ExpectColumnValuesToBeBetween", {"column": c, "min_value": r.min, "max_value": r.max})
        for c, r in exp.ranges.items()
    ]
    specs += [
        ("ExpectColumnValuesToBeInSet", {"column": c, "value_set": v}) for c, v in exp.value_sets.items()
    ]
    specs += [("ExpectColumnValuesToBeUnique", {"column": c}) for c in exp.unique]
    return specs


def build_suite(ds: DatasetCfg, name: str, id_type: str = "int") -> gx.ExpectationSuite:
    """The GX suite of `expectation_specs`; GX needs an active context (gx.get_context) first."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=name)
    for cls, kwargs in expectation_specs(ds, id_type):
        suite.add_expectation(getattr(gxe, cls)(**kwargs))
    return suite


def describe_failure(kind: str, kwargs: dict[str, Any], result: dict[str, Any], rows: int) -> str:
    """One line naming the column, the rule, the unexpected count and up to five examples."""
    col = kwargs.get("column", "table")
    count = result.get("unexpected_count")
    examples = _examples(result.get("partial_unexpected_list") or [])
    of = f"{count} of {rows} rows" if count is not None else "failed"
    rules = {
        "expect_column_to_exist": lambda: "column is missing",
        "expect_column_values_to_be_in_type_list": lambda: (
            f"type {result.get('observed_value')} is not one of {kwargs.get('type_list')}"
        ),
        "expect_column_values_to_not_be_null": lambda: (
            f"null in {of} (at least {kwargs.get('mostly', 1.0):.0%} must be set)"
        ),
        "expect_column_values_to_be_between": lambda: (
            f"{of} outside [{kwargs.get('min_value')}, {kwargs.get('max_value')}], e.g. {examples}"
        ),
        "expect_column_values_to_be_in_set": lambda: (
            f"{of} not in {kwargs.get('value_set')}, e.g. {examples}"
        ),
        "expect_column_values_to_be_unique": lambda: f"duplicates in {of}, e.g. {examples}",
        "expect_table_row_count_to_be_between": lambda: (
            f"row count {result.get('observed_value')} not in "
            f"[{kwargs.get('min_value')}, {kwargs.get('max_value')}]"
        ),
    }
    text = rules[kind]() if kind in rules else f"{kind} {of}, e.g. {examples}"
    return f"{col}: {text}"


def _examples(values: list[Any]) -> list[Any]:
    """Up to five distinct examples, NaN shown as None."""
    seen: list[Any] = []
    for v in values:
        v = None if isinstance(v, float) and v != v else v
        if v not in seen:
            seen.append(v)
        if len(seen) == 5:
            break
    return seen
