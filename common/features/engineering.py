"""Pure feature engineering from config: the dataset's columns plus derived ones (expressions, flags, bins).
One implementation on NumPy arrays serves training (a million rows) and the server (one row)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from common.errors import ConfigError
from common.features.expressions import evaluate_quietly, quiet
from common.settings import DatasetCfg, DerivedFeature, FeaturesCfg

KINDS = {"expr": "float", "flag": "int", "bins": "string"}


def feature_types(fcfg: FeaturesCfg, ds: DatasetCfg) -> dict[str, str]:
    """Every feature the model sees, in order, with its kind: float, int or string."""
    types = dict.fromkeys(ds.numeric, "float") | dict.fromkeys(ds.categorical, "string")
    return types | {d.name: KINDS[d.kind] for d in fcfg.derived}


def build_features(df: pd.DataFrame, fcfg: FeaturesCfg, ds: DatasetCfg) -> pd.DataFrame:
    """id, timestamp and every feature of `feature_types`; the label is not a feature."""
    out = df[[ds.id_column, ds.event_time, *ds.numeric, *ds.categorical]].copy()
    out[ds.numeric] = out[ds.numeric].astype("float64")
    for name in ds.categorical:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    derived = derive({c: out[c].to_numpy() for c in [*ds.numeric, *ds.categorical]}, fcfg)
    for name, values in derived.items():
        out[name] = values
    return out.reset_index(drop=True)


def derive(columns: Mapping[str, np.ndarray], fcfg: FeaturesCfg) -> dict[str, np.ndarray]:
    """The derived features, in config order, from the dataset's columns (numbers as float64, strings or
    None as objects); a feature may use the ones before it."""
    known = dict(columns)
    rows = len(next(iter(known.values()))) if known else 0
    with quiet():
        for feature in fcfg.derived:
            try:
                known[feature.name] = _derive(known, feature, rows)
            except (KeyError, ValueError) as exc:  # ExpressionError is a ValueError, as are bins of text
                raise ConfigError(
                    f"features.derived {feature.name}: cannot evaluate on the data: {exc}"
                ) from None
    return {f.name: known[f.name] for f in fcfg.derived}


def _derive(columns: Mapping[str, np.ndarray], feature: DerivedFeature, rows: int) -> np.ndarray:
    if feature.bins is not None:
        column, bins, labels = feature.binned
        return bin_labels(columns[column], bins, labels)
    values = evaluate_quietly(feature.text, columns)
    if values.shape != (rows,):  # an expression of constants only
        values = np.broadcast_to(values, (rows,))
    if feature.flag is not None:
        return values.astype(bool).astype("int64")
    values = values.astype("float64")  # a copy: never a view of an input column
    values[np.isinf(values)] = np.nan  # x/0 is a missing value
    return values


def bin_labels(values: np.ndarray, bins: list[float], labels: list[str]) -> np.ndarray:
    """The label of the right-closed bin (b[i-1], b[i]] each value falls in, None outside or missing (pd.cut)."""
    at = np.searchsorted(np.asarray(bins, dtype="float64"), np.asarray(values, dtype="float64"), side="left")
    # at == 0: at or below the first edge; at == len(bins): above the last edge, or NaN (sorted last)
    return np.array([None, *labels, None], dtype=object)[at]


def derived_inputs(fcfg: FeaturesCfg) -> dict[str, list[str]]:
    """Each derived feature and the dataset columns it is computed from (through earlier derived features too):
    the column lineage of step 04."""
    from common.features.expressions import compile_expression

    reads: dict[str, list[str]] = {}
    for feature in fcfg.derived:
        names = [feature.binned[0]] if feature.bins is not None else compile_expression(feature.text)[1]
        sources: set[str] = set()
        for name in names:
            sources.update(reads.get(name, [name]))  # an earlier derived feature stands for its own inputs
        reads[feature.name] = sorted(sources)
    return reads
