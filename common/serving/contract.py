"""The serving contract, pure: validate V1 instances (errors name the field), split the customer_id-only ones
(completed from the online store), and shape predictions. The KServe model class calls these."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.data.parsing import number_from_text
from common.settings import DatasetCfg, fold_label

# A customer with every field: the V1 contract's example (README, tests, bench).
EXAMPLE_CUSTOMER: dict[str, Any] = {
    "customer_id": 7,
    "age": 40,
    "gender": "Female",
    "region": "North",
    "income": 52000.5,
    "tenure_months": 12,
    "monthly_charges": 70.2,
    "total_charges": 842.4,
    "total_purchases": 9,
    "avg_order_value": 45.0,
    "days_since_last_purchase": 30,
    "support_tickets_count": 2,
    "contract": "Month-to-month",
}


class BadRequestError(ValueError):
    """A request the server refuses with a 4xx; the message names the field."""


@dataclass(frozen=True)
class Limit:
    """What `dataset.expectations` allows for one request field: a range, a value set, or both. Validation
    (Great Expectations) reads the same declarations, so the server and the data checks cannot disagree."""

    name: str
    low: float | None = None
    high: float | None = None
    allowed: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed (naming what is and the config key), or None."""
        if self.allowed is not None and value not in self.allowed:
            key = f"dataset.expectations.value_sets.{self.name}"
            return f"{value!r} is not an allowed value: one of {list(self.allowed)} ({key})"
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            key = f"dataset.expectations.ranges.{self.name}"
            return f"{value!r} is out of range: allowed {_span(self.low, self.high)} ({key})"
        return None


@dataclass(frozen=True)
class Contract:
    """What one request may hold: the dataset's fields with their limits, the batch size and what to do with
    a value outside its limits (reject: a 400; accept: score it and report the field)."""

    id_column: str
    id_text: bool  # dataset.id_type str: ids are JSON strings, else integers
    checks: tuple[tuple[str, bool, Limit | None], ...]  # every field but the id: (name, is a number, limits)
    fields: frozenset[str]
    max_batch: int
    reject_out_of_range: bool = True
    text_numbers: frozenset[str] = frozenset()  # dataset.parse_numbers: numbers that may come as text
    label: str = ""  # the target: accepted as the table holds it, never scored
    labels: frozenset[str] = frozenset()  # its values, folded (common.settings.fold_label)


def contract_of(ds: DatasetCfg, max_batch: int, out_of_range: str = "reject") -> Contract:
    """The request contract of the dataset's declared columns and expectations (ids are integers unless
    `ds.id_type` is str: the server's spec holds the resolved type)."""
    exp = ds.expectations

    def limit(name: str) -> Limit | None:
        span, allowed = exp.ranges.get(name), exp.value_sets.get(name)
        if span is None and allowed is None:
            return None
        return Limit(
            name, span.min if span else None, span.max if span else None, tuple(allowed) if allowed else None
        )

    declared = [ds.positive_label, *ds.negative_labels] if ds.positive_label else []
    return Contract(
        id_column=ds.id_column,
        id_text=ds.id_type == "str",
        checks=tuple((n, n in ds.numeric, limit(n)) for n in ds.inputs),
        # a row as the table holds it: the inputs, and the time, the label and the attributes, which are not scored
        fields=frozenset({ds.id_column, *ds.inputs, ds.event_time, ds.target, *ds.attributes}),
        max_batch=max_batch,
        reject_out_of_range=out_of_range == "reject",
        text_numbers=frozenset(ds.parse_numbers),
        label=ds.target,
        labels=frozenset(fold_label(v) for v in [*declared, 0, 1]),  # as the table has it, or mapped to 1/0
    )


@dataclass
class Parsed:
    full: dict[int, dict[str, Any]]  # position -> a customer given with every field
    by_id: dict[int, int | str]  # position -> customer id to complete from the online store
    # a field name per value outside its limits, scored under serving.out_of_range: accept
    out_of_range: list[str] = field(default_factory=list)


def parse_instances(payload: Any, contract: Contract) -> Parsed:
    """Check the body of a V1 request: {"instances": [{customer fields}, ...]}."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequestError('body: expected a JSON object {"instances": [...]}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise BadRequestError(f"instances: expected a list, got {type(instances).__name__}")
    if not instances:
        raise BadRequestError("instances: empty, send at least one customer")
    if len(instances) > contract.max_batch:
        raise BadRequestError(
            f"instances: {len(instances)} customers, over the limit of {contract.max_batch} per request"
        )
    parsed = Parsed({}, {})
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise BadRequestError(
                f"instances[{i}]: expected an object of customer fields, got {type(row).__name__}"
            )
        customer = _customer_id(row.get(contract.id_column), f"instances[{i}].{contract.id_column}", contract)
        if len(row) == 1:
            parsed.by_id[i] = customer
        else:
            parsed.full[i] = _checked(row, i, contract, parsed.out_of_range)
    return parsed


def _customer_id(value: Any, where: str, contract: Contract) -> int | str:
    if value is None:
        raise BadRequestError(f"{where}: missing")
    if contract.id_text:  # returned to the caller exactly as sent
        if not isinstance(value, str) or not value:
            raise BadRequestError(f"{where}: expected a text id (a non-empty JSON string), got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise BadRequestError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def _checked(row: dict[str, Any], i: int, contract: Contract, flagged: list[str]) -> dict[str, Any]:
    if not contract.fields.issuperset(row):
        unknown = sorted(set(row) - contract.fields)
        expected = sorted(contract.fields - {contract.id_column})
        raise BadRequestError(f"instances[{i}].{unknown[0]}: unknown field (expected {expected})")
    if contract.label in row:
        _label(row[contract.label], i, contract)
    parsed: dict[str, Any] = {}
    for name, number, limit in contract.checks:
        value = row.get(name, _MISSING)
        if isinstance(value, str) and name in contract.text_numbers:
            value = parsed[name] = _text_number(value, i, name)
        if value is None:
            continue
        if value is _MISSING:
            raise BadRequestError(f"instances[{i}].{name}: missing")
        if _wrong_type(value, number):
            kind = "a number" if number else "a string"
            raise BadRequestError(f"instances[{i}].{name}: expected {kind} or null, got {value!r}")
        if limit is not None:
            _judge(limit.problem(value), i, name, contract, flagged)
    return {**row, **parsed} if parsed else row


def _text_number(text: str, i: int, name: str) -> float | None:
    """A number the table stores as text (dataset.parse_numbers), read by step 01's rule: blank is missing."""
    try:
        return number_from_text(text)
    except ValueError:
        raise BadRequestError(
            f"instances[{i}].{name}: expected a number, a number as text or blank text, got {text!r} "
            f"(dataset.parse_numbers.{name})"
        ) from None


def _label(value: Any, i: int, contract: Contract) -> None:
    """The label may come with a row, as the table holds it or as 1/0; it is not scored, but it must be one."""
    if value is None or (not isinstance(value, dict | list) and fold_label(value) in contract.labels):
        return
    raise BadRequestError(
        f"instances[{i}].{contract.label}: {value!r} is not a label of the dataset (dataset.positive_label, "
        "dataset.negative_labels, or 1 and 0); a label is accepted, never scored"
    )


def _wrong_type(value: Any, number: bool) -> bool:
    if number:  # JSON true is not 1, and an infinite number is no customer's
        return isinstance(value, bool) or not isinstance(value, (int, float)) or math.isinf(value)
    return not isinstance(value, str)


def _judge(problem: str | None, i: int, name: str, contract: Contract, flagged: list[str]) -> None:
    if problem is None:
        return
    if contract.reject_out_of_range:
        raise BadRequestError(f"instances[{i}].{name}: {problem}")
    flagged.append(name)


def _span(low: float | None, high: float | None) -> str:
    if low is None:
        return f"at most {high:g}"
    return f"at least {low:g}" if high is None else f"{low:g} to {high:g}"


_MISSING = object()


def customer_columns(rows: list[dict[str, Any]], ds: DatasetCfg) -> dict[str, np.ndarray]:
    """Checked customers as the columns `common.features.engineering.derive` takes: numbers as float64 (null is
    NaN), strings or None as objects, and the ids."""
    # one array per kind, a row per column: a call per kind, not per column (a one-row request pays per call)
    numbers = np.array([[row[name] for row in rows] for name in ds.numeric], dtype="float64")
    texts = np.array([[row[name] for row in rows] for name in ds.categorical], dtype=object)
    columns = dict(zip(ds.numeric, numbers, strict=True)) | dict(zip(ds.categorical, texts, strict=True))
    columns[ds.id_column] = id_array([row[ds.id_column] for row in rows], ds)
    return columns


def id_array(ids: list[int | str], ds: DatasetCfg) -> np.ndarray:
    """Customer ids as an array: text as objects (returned as sent), else int64."""
    return np.array(ids, dtype=object) if ds.id_type == "str" else np.array(ids, dtype="int64")


def predictions(
    ids: list[int | str], proba: np.ndarray, threshold: float, id_column: str = "customer_id"
) -> list[dict[str, Any]]:
    """The seed's /predict answer under the id column's name: the id as sent, probability, 0/1 prediction at
    the model's threshold, and confidence."""
    return [
        {
            id_column: c,
            "churn_probability": round(float(p), 6),
            "prediction": int(p >= threshold),
            "confidence": round(float(max(p, 1 - p)), 6),
        }
        for c, p in zip(ids, proba.tolist(), strict=True)
    ]
