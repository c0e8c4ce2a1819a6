"""Pure feature engineering from config: the dataset's columns plus derived ones (DataFrame.eval, flags, bins)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.errors import ConfigError
from common.settings import DatasetCfg, DerivedFeature, FeaturesCfg

KINDS = {"expr": "float", "flag": "int", "bins": "string"}


def feature_types(fcfg: FeaturesCfg, ds: DatasetCfg) -> dict[str, str]:
    """Every feature the model sees, in order, with its kind: float, int or string."""
    types = dict.fromkeys(ds.numeric, "float") | dict.fromkeys(ds.categorical, "string")
    return types | {d.name: KINDS[d.kind] for d in fcfg.derived}


def build_features(df: pd.DataFrame, fcfg: FeaturesCfg, ds: DatasetCfg) -> pd.DataFrame:
    """id, timestamp and every feature of `feature_types`; the label is not a feature."""
    out = df[[ds.id_column, ds.timestamp, *ds.numeric, *ds.categorical]].copy()
    out[ds.numeric] = out[ds.numeric].astype("float64")
    for name in ds.categorical:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    for feature in fcfg.derived:
        out[feature.name] = _derive(out, feature)
    return out.reset_index(drop=True)


def _derive(df: pd.DataFrame, feature: DerivedFeature) -> pd.Series:
    try:
        if feature.kind == "bins":
            cut = pd.cut(df[feature.column], bins=feature.bins, labels=feature.labels)
            return cut.astype(object).where(cut.notna(), None)
        # pandas.eval parses a restricted expression grammar: no Python eval of config text. Plain arrays as
        # names: DataFrame.eval would build a Series per column on every call (most of a one-row request's time).
        columns = {c: df[c].to_numpy() for c in df.columns}
        with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is a missing value (inf -> NaN below)
            values = pd.Series(
                pd.eval(
                    feature.expr if feature.kind == "expr" else feature.flag,
                    engine="python",
                    resolvers=(columns,),
                ),
                index=df.index,
            )
    except (KeyError, SyntaxError, ValueError, TypeError, NameError) as exc:
        raise ConfigError(f"features.derived {feature.name}: cannot evaluate on the data: {exc}") from None
    if feature.kind == "flag":
        return values.astype(bool).astype("int64")
    return pd.to_numeric(values).astype("float64").replace([np.inf, -np.inf], np.nan)
