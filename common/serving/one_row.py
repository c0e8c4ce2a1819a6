"""One full customer scored on scalars. The usual online request holds a single customer, and on one-element arrays
NumPy charges a call's overhead for every step between the request and its probability: building the columns,
each derived feature, the imputing, scaling and one-hot matrix (profiled: over half of the model server's own work
per request). Here the same expressions, bins, imputer statistics, scaling and estimator run on scalars.

The array path stays the reference: `row_scorer` checks this one against it on probe customers when a version
loads, and a version whose one-row answers differ by more than the compiled model's tolerance is served by the
array path only. A customer the scalar path cannot take (an expression that fails on it) goes to the array path,
which answers or fails exactly as before."""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.features.engineering import derive
from common.features.expressions import compile_expression, quiet
from common.model.compiled import AGREEMENT, CompiledModel, probe_rows
from common.serving.contract import customer_columns
from common.settings import DatasetCfg, DerivedFeature, FeaturesCfg

log = logging.getLogger(__name__)
NAN = np.float64("nan")
SCALAR_FAILURES = (ArithmeticError, KeyError, TypeError, ValueError)  # the array path then decides


class RowScorer:
    """The features and churn probability of one checked customer (`common.serving.contract`), as scalars."""

    def __init__(self, ds: DatasetCfg, fcfg: FeaturesCfg, compiled: CompiledModel) -> None:
        self.numeric, self.categorical = tuple(ds.numeric), tuple(ds.categorical)
        self.id_column, self.id_text = ds.id_column, ds.id_type == "str"
        self.derived = [_derivation(f) for f in fcfg.derived]
        self.compiled = compiled

    def features(self, customer: Mapping[str, Any]) -> dict[str, Any]:
        """The id and every feature: numbers as float64 (null is NaN), text or None, then the derived ones."""
        out: dict[str, Any] = {}
        for name in self.numeric:
            value = customer[name]
            out[name] = NAN if value is None else np.float64(value)
        # expressions see text as the array path does, an element of an object array: comparisons then give
        # NumPy booleans (True + True is True, not 2)
        seen: dict[str, Any] = dict(out)
        for name in self.categorical:
            out[name] = customer[name]
            seen[name] = np.array(out[name], dtype=object)
        with quiet():
            for name, compute in self.derived:
                out[name], seen[name] = compute(seen)
        given = customer[self.id_column]
        out[self.id_column] = given if self.id_text else int(given)
        return out

    def proba(self, features: Mapping[str, Any]) -> float:
        return self.compiled.row_proba(features)


Derivation = Callable[
    [Mapping[str, Any]], tuple[Any, Any]
]  # seen -> (the feature's value, what later ones see)


def _derivation(feature: DerivedFeature) -> tuple[str, Derivation]:
    if feature.bins is not None:
        column, bins, names = feature.binned
        edges, labels = list(bins), [None, *names, None]

        def binned(seen: Mapping[str, Any]) -> tuple[Any, Any]:
            value = seen[column]
            if not isinstance(value, float):  # text: the array path refuses it
                raise TypeError(f"bins of {column}: not a number")
            # right-closed bins as common.features.engineering.bin_labels: NaN sorts after every edge
            label = labels[len(edges) if math.isnan(value) else bisect_left(edges, value)]
            return label, np.array(label, dtype=object)

        return feature.name, binned
    evaluator, _ = compile_expression(feature.text)
    if feature.flag is not None:

        def flagged(seen: Mapping[str, Any]) -> tuple[Any, Any]:
            value = np.int64(bool(evaluator(seen)))  # astype(bool).astype(int64): NaN is True
            return value, value

        return feature.name, flagged

    def computed(seen: Mapping[str, Any]) -> tuple[Any, Any]:
        value = np.float64(evaluator(seen))
        value = NAN if math.isinf(value) else value  # x/0 is a missing value
        return value, value

    return feature.name, computed


def row_scorer(
    score: Callable[..., np.ndarray], ds: DatasetCfg, fcfg: FeaturesCfg, columns: list[str]
) -> RowScorer | None:
    """The scalar path of a version scored by a compiled model (`common.model.compiled.scorer`), if it agrees
    with the array path on probe customers; else None (the array path serves every request)."""
    compiled = getattr(score, "__self__", None)  # scorer() hands out the compiled model's bound predict_proba
    if not isinstance(compiled, CompiledModel):
        return None
    scalar = RowScorer(ds, fcfg, compiled)
    try:
        gap = _gap(scalar, score, ds, fcfg, columns)
    except SCALAR_FAILURES as exc:
        log.warning("one-customer requests take the array path: the scalar path failed on a probe: %s", exc)
        return None
    if gap is not None:
        log.warning("one-customer requests take the array path: the scalar path differs: %s", gap)
        return None
    return scalar


def _gap(
    scalar: RowScorer, score: Callable[..., np.ndarray], ds: DatasetCfg, fcfg: FeaturesCfg, columns: list[str]
) -> str | None:
    """What differs between the scalar and the array path on probe customers, or None."""
    customers = probe_customers(scalar.compiled, ds)
    raw = customer_columns(customers, ds)
    arrays = {**raw, **derive(raw, fcfg)}
    expected = score(arrays)
    for i, customer in enumerate(customers):
        features = scalar.features(customer)
        for name in columns:
            if not _same(features[name], arrays[name][i]):
                return f"customer {i}: {name} is {features[name]!r}, the array path has {arrays[name][i]!r}"
        proba = scalar.proba(features)
        if not abs(proba - float(expected[i])) <= AGREEMENT:
            return f"customer {i}: probability {proba!r}, the array path has {float(expected[i])!r}"
    return None


def probe_customers(compiled: CompiledModel, ds: DatasetCfg) -> list[dict[str, Any]]:
    """Requests of one customer each, from the compiled model's probe rows (every category, unseen text, missing
    values, typical and odd numbers), as JSON gives them: missing is null."""
    probe = probe_rows(compiled)
    rows = len(next(iter(probe.values())))
    customers = []
    for i in range(rows):
        customer: dict[str, Any] = {ds.id_column: str(i) if ds.id_type == "str" else i}
        for name in (*ds.numeric, *ds.categorical):
            value = probe[name][i]
            customer[name] = None if isinstance(value, float) and math.isnan(value) else value
        customers.append(customer)
    return customers


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (number, text, None); NaN is NaN."""
    numbers = [isinstance(v, float | np.floating) for v in (a, b)]
    if any(numbers):
        return all(numbers) and ((math.isnan(a) and math.isnan(b)) or a == b)
    return (a is None) == (b is None) and bool(a == b)
