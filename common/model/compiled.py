"""The fitted pipeline of `common.model.training.make_model` as NumPy arithmetic: impute, scale and one-hot from
the fitted statistics, then the estimator on the matrix. On one row this skips the DataFrame and the ColumnTransformer's
dispatch (~4 ms of a request). A pipeline of another shape is refused, and `scorer` checks a compiled model against
its pipeline on probe rows before trusting it, so a server never answers differently from the model it loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Columns = Mapping[str, np.ndarray]
AGREEMENT = 1e-9  # the largest probability difference from the pipeline we accept


class NotCompilableError(ValueError):
    """The pipeline is not the shape this module knows, or disagrees with its compiled form."""


@dataclass
class _Numbers:
    columns: list[str]
    fill: np.ndarray  # the imputer's statistics
    mean: np.ndarray | float
    scale: np.ndarray | float

    @property
    def width(self) -> int:
        return len(self.columns)

    def fill_in(self, data: Columns, out: np.ndarray) -> None:
        """Write the scaled columns into `out` (rows x width), in place."""
        for j, name in enumerate(self.columns):
            out[:, j] = data[name]
        np.copyto(out, self.fill, where=np.isnan(out))
        out -= self.mean
        out /= self.scale

    def fill_row(self, values: Mapping[str, Any], out: np.ndarray) -> None:
        """`fill_in` for one row of scalars (name -> value), into `out` (width,)."""
        x = np.array([values[name] for name in self.columns], dtype="float64")
        np.copyto(x, self.fill, where=np.isnan(x))
        x -= self.mean
        x /= self.scale
        out[:] = x


@dataclass
class _OneHot:
    columns: list[str]
    fill: list[Any]  # the imputer's statistics, for NaN (sklearn imputes NaN only: None stays unknown)
    slots: list[dict[Any, int]]  # per column: category -> its output column; unknown values are all zeros
    width: int

    def fill_in(self, data: Columns, out: np.ndarray) -> None:
        """Set the one-hot slots in `out` (rows x width, zeros), in place."""
        for j, name in enumerate(self.columns):
            slots, fill = self.slots[j], self.fill[j]
            for i, value in enumerate(data[name]):
                slot = slots.get(fill if isinstance(value, float) and value != value else value)
                if slot is not None:
                    out[i, slot] = 1.0

    def fill_row(self, values: Mapping[str, Any], out: np.ndarray) -> None:
        """`fill_in` for one row of scalars (name -> value), into `out` (width,) of zeros."""
        for j, name in enumerate(self.columns):
            value = values[name]
            slot = self.slots[j].get(self.fill[j] if isinstance(value, float) and value != value else value)
            if slot is not None:
                out[slot] = 1.0


@dataclass
class CompiledModel:
    parts: list[_Numbers | _OneHot]
    estimator: Any
    positive: int  # the column of predict_proba that is class 1
    linear: _Linear | None = None  # a binary logistic regression, scored without sklearn's input checks

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> CompiledModel:
        """Compile a fitted Pipeline([("columns", ColumnTransformer), ("model", estimator)])."""
        from sklearn.pipeline import Pipeline

        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise NotCompilableError(f"expected a two-step Pipeline, got {type(pipeline).__name__}")
        columns, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
        if not hasattr(columns, "transformers_") or getattr(columns, "sparse_output_", False):
            raise NotCompilableError(
                f"expected a fitted dense ColumnTransformer, got {type(columns).__name__}"
            )
        parts = [
            _part(name, step, list(cols))
            for name, step, cols in columns.transformers_
            if not (isinstance(step, str) and step == "drop")
        ]
        classes = list(getattr(estimator, "classes_", []))
        if 1 not in classes or not hasattr(estimator, "predict_proba"):
            raise NotCompilableError(
                f"{type(estimator).__name__}: needs predict_proba and class 1, got {classes}"
            )
        return cls(parts, estimator, classes.index(1), _Linear.of(estimator))

    def matrix(self, data: Columns) -> np.ndarray:
        """The estimator's input: each part's columns side by side, written in place into one matrix."""
        rows = len(next(iter(data.values())))
        out = np.zeros((rows, sum(part.width for part in self.parts)))
        start = 0
        for part in self.parts:
            part.fill_in(data, out[:, start : start + part.width])
            start += part.width
        return out

    def row_proba(self, values: Mapping[str, Any]) -> float:
        """`predict_proba` of one row given as scalars (feature name -> value): no one-element arrays."""
        x = np.zeros((1, sum(part.width for part in self.parts)))
        start = 0
        for part in self.parts:
            part.fill_row(values, x[0, start : start + part.width])
            start += part.width
        if self.linear is not None:
            second = float(self.linear.proba(x)[0])
            return second if self.positive == 1 else 1.0 - second
        return float(self.estimator.predict_proba(x)[0, self.positive])

    def predict_proba(self, data: Columns) -> np.ndarray:
        """The churn probability of each row of `data` (feature name -> array)."""
        x = self.matrix(data)
        if self.linear is not None:
            second = self.linear.proba(x)  # the probability of classes_[1]
            return second if self.positive == 1 else 1.0 - second
        return self.estimator.predict_proba(x)[:, self.positive]


@dataclass
class _Linear:
    """sklearn's binary LogisticRegression.predict_proba is expit(X @ coef.T + intercept) for its second class;
    on one row its input checks (validate_data) cost several times the arithmetic."""

    coef_t: np.ndarray
    intercept: np.ndarray
    expit: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def of(cls, estimator: Any) -> _Linear | None:
        from scipy.special import expit
        from sklearn.linear_model import LogisticRegression

        if type(estimator) is not LogisticRegression or len(estimator.classes_) != 2:
            return None
        return cls(estimator.coef_.T, estimator.intercept_, expit)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.expit(x @ self.coef_t + self.intercept).reshape(-1)


def _part(name: str, step: Any, columns: list[str]) -> _Numbers | _OneHot:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    kinds = [type(s) for _, s in step.steps] if isinstance(step, Pipeline) else [type(step)]
    if kinds == [SimpleImputer, StandardScaler]:
        imputer, scaler = step[0], step[1]
        _check_imputer(name, imputer, columns)
        mean = scaler.mean_ if scaler.mean_ is not None else 0.0
        scale = scaler.scale_ if scaler.scale_ is not None else 1.0
        return _Numbers(columns, imputer.statistics_.astype("float64"), mean, scale)
    if kinds == [SimpleImputer, OneHotEncoder]:
        imputer, encoder = step[0], step[1]
        _check_imputer(name, imputer, columns)
        if encoder.drop_idx_ is not None or getattr(encoder, "_infrequent_enabled", False):
            raise NotCompilableError(f"{name}: one-hot with drop or infrequent categories is not compiled")
        if encoder.handle_unknown == "error" or encoder.sparse_output:
            raise NotCompilableError(f"{name}: one-hot must ignore unknown values and be dense")
        slots, offset = [], 0
        for categories in encoder.categories_:
            slots.append({value: offset + k for k, value in enumerate(categories)})
            offset += len(categories)
        return _OneHot(columns, list(imputer.statistics_), slots, offset)
    raise NotCompilableError(f"{name}: {[k.__name__ for k in kinds]} is not a compiled transform")


def _check_imputer(name: str, imputer: Any, columns: list[str]) -> None:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or imputer.add_indicator:
        raise NotCompilableError(f"{name}: the imputer must replace NaN, without indicator columns")
    if len(imputer.statistics_) != len(columns):
        raise NotCompilableError(f"{name}: the imputer dropped columns that were empty in training")


def probe_rows(model: CompiledModel) -> dict[str, np.ndarray]:
    """Rows that exercise every path: each category, missing (None and NaN), unseen values, typical and odd
    numbers. Checking a compiled model on them catches any difference from sklearn's own transforms."""
    rows = max([len(s) for p in model.parts if isinstance(p, _OneHot) for s in p.slots] + [0]) + 3
    data: dict[str, np.ndarray] = {}
    for part in model.parts:
        for j, name in enumerate(part.columns):
            if isinstance(part, _Numbers):
                typical = float(part.fill[j])
                values: list[Any] = [typical, np.nan, 0.0, -typical, 3 * typical + 1.5]
                data[name] = np.array(list(islice(cycle(values), rows)), dtype="float64")
            else:
                values = [*part.slots[j], None, np.nan, "<never seen>"]
                data[name] = np.array(list(islice(cycle(values), rows)), dtype=object)
    return data


def scorer(pipeline: Any, columns: list[str]) -> tuple[Callable[[Columns], np.ndarray], str]:
    """The fastest scorer that agrees with `pipeline`, and which one it is ("compiled" or "pipeline")."""
    import pandas as pd

    def general(data: Columns) -> np.ndarray:
        frame = pd.DataFrame({name: data[name] for name in columns})
        return pipeline.predict_proba(frame)[:, list(pipeline.classes_).index(1)]

    try:
        compiled = CompiledModel.from_pipeline(pipeline)
        probe = probe_rows(compiled)
        if set(probe) != set(columns):
            raise NotCompilableError(
                f"the pipeline's columns {sorted(probe)} are not the features {sorted(columns)}"
            )
        gap = float(np.max(np.abs(compiled.predict_proba(probe) - general(probe))))
        if gap > AGREEMENT:
            raise NotCompilableError(f"differs from the pipeline by up to {gap:.3g} on probe rows")
    except NotCompilableError as exc:
        log.warning("scoring with the sklearn pipeline itself (slower): %s", exc)
        return general, "pipeline"
    return compiled.predict_proba, "compiled"
