"""The serving contract, pure: validate V1 instances (errors name the field), split the customer_id-only ones
(completed from the online store), and shape predictions. The KServe model class calls these."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.settings import DatasetCfg

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


@dataclass
class Parsed:
    full: dict[int, dict[str, Any]]  # position -> a customer given with every field
    by_id: dict[int, int]  # position -> customer_id to complete from the online store


def parse_instances(payload: Any, ds: DatasetCfg, max_batch: int) -> Parsed:
    """Check the body of a V1 request: {"instances": [{customer fields}, ...]}."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequestError('body: expected a JSON object {"instances": [...]}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise BadRequestError(f"instances: expected a list, got {type(instances).__name__}")
    if not instances:
        raise BadRequestError("instances: empty, send at least one customer")
    if len(instances) > max_batch:
        raise BadRequestError(
            f"instances: {len(instances)} customers, over the limit of {max_batch} per request"
        )
    parsed = Parsed({}, {})
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise BadRequestError(
                f"instances[{i}]: expected an object of customer fields, got {type(row).__name__}"
            )
        customer = _integer(row.get(ds.id_column), f"instances[{i}].{ds.id_column}")
        if set(row) == {ds.id_column}:
            parsed.by_id[i] = customer
        else:
            parsed.full[i] = _checked(row, i, ds)
    return parsed


def _integer(value: Any, where: str) -> int:
    if value is None:
        raise BadRequestError(f"{where}: missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise BadRequestError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def _checked(row: dict[str, Any], i: int, ds: DatasetCfg) -> dict[str, Any]:
    unknown = sorted(set(row) - {ds.id_column, *ds.numeric, *ds.categorical, ds.timestamp})
    if unknown:
        raise BadRequestError(
            f"instances[{i}].{unknown[0]}: unknown field (expected {ds.numeric + ds.categorical})"
        )
    for name in ds.numeric:
        value = row.get(name, _MISSING)
        if value is _MISSING:
            raise BadRequestError(f"instances[{i}].{name}: missing")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or math.isinf(value)
        ):
            raise BadRequestError(f"instances[{i}].{name}: expected a number or null, got {value!r}")
    for name in ds.categorical:
        value = row.get(name, _MISSING)
        if value is _MISSING:
            raise BadRequestError(f"instances[{i}].{name}: missing")
        if value is not None and not isinstance(value, str):
            raise BadRequestError(f"instances[{i}].{name}: expected a string or null, got {value!r}")
    return row


_MISSING = object()


def customer_columns(rows: list[dict[str, Any]], ds: DatasetCfg) -> dict[str, np.ndarray]:
    """Checked customers as the columns `features.derive` takes: numbers as float64 (null is NaN), strings or
    None as objects, and the ids."""
    columns = {name: np.array([row[name] for row in rows], dtype="float64") for name in ds.numeric}
    for name in ds.categorical:
        columns[name] = np.array([row[name] for row in rows], dtype=object)
    columns[ds.id_column] = np.array([int(row[ds.id_column]) for row in rows], dtype="int64")
    return columns


def predictions(ids: list[int], proba: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    """The seed's /predict answer: probability, 0/1 prediction at the model's threshold, and confidence."""
    return [
        {
            "customer_id": int(c),
            "churn_probability": round(float(p), 6),
            "prediction": int(p >= threshold),
            "confidence": round(float(max(p, 1 - p)), 6),
        }
        for c, p in zip(ids, proba, strict=True)
    ]
