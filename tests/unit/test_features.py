import math

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.errors import ConfigError
from common.features.engineering import bin_labels, build_features, derive, feature_types

CFG = load_config(environ={})


def _frame() -> pd.DataFrame:
    df = generate(4, seed=1)
    df.loc[:, "total_charges"] = [0.0, 3500.0, 100.0, 5000.0]
    df.loc[:, "tenure_months"] = [0.0, 9.0, 30.0, 60.0]
    df.loc[:, "age"] = [22.0, 35.0, 59.0, 70.0]
    df.loc[:, "income"] = [50_000.0, 0.0, float("nan"), 120_000.0]
    df.loc[:, "monthly_charges"] = [50.0, 60.0, 70.0, 100.0]
    return df


def test_seed_features_are_derived_as_declared() -> None:
    out = build_features(_frame(), CFG.features, CFG.dataset)
    assert out["charges_per_month"].tolist() == [0.0, 350.0, 100 / 31, 5000 / 61]
    assert out["income_ratio"][0] == pytest.approx(50 * 12 / 50_000)
    assert math.isnan(out["income_ratio"][1]) and math.isnan(out["income_ratio"][2])  # x/0 and x/NaN: missing
    assert out["is_high_value"].tolist() == [0, 1, 0, 1]
    assert out["age_group"].tolist() == ["18-29", "30-44", "45-59", "60+"]
    assert out["tenure_group"].tolist() == ["0-12", "0-12", "25-48", "49+"]
    assert "churn" not in out.columns  # the label is never a feature


def test_feature_types_list_every_column_in_order() -> None:
    types = feature_types(CFG.features, CFG.dataset)
    assert list(types)[: len(CFG.dataset.numeric)] == CFG.dataset.numeric
    assert types["gender"] == "string" and types["is_high_value"] == "int" and types["age_group"] == "string"
    out = build_features(_frame(), CFG.features, CFG.dataset)
    assert list(out.columns) == [CFG.dataset.id_column, CFG.dataset.timestamp, *types]


def test_features_come_from_config_not_code() -> None:
    cfg = load_config(
        overrides=[
            "features.derived=[{name: spend_per_purchase, expr: total_charges / (total_purchases + 1)}]"
        ],
        environ={},
    )
    out = build_features(_frame(), cfg.features, cfg.dataset)
    assert "spend_per_purchase" in out.columns and "age_group" not in out.columns


def test_an_expression_on_an_unknown_column_names_the_feature_when_config_loads() -> None:
    with pytest.raises(
        ConfigError, match=r"features\.derived broken reads \['salary'\]: not in dataset.numeric"
    ):
        load_config(overrides=["features.derived=[{name: broken, expr: salary * 2}]"], environ={})


def test_a_feature_may_read_an_earlier_one_and_the_data_still_names_a_failure() -> None:
    cfg = load_config(
        overrides=["features.derived=[{name: a, expr: age * 2}, {name: b, expr: a + 1}]"], environ={}
    )
    assert build_features(_frame(), cfg.features, cfg.dataset)["b"].notna().all()


def test_python_code_in_an_expression_is_refused_when_config_loads() -> None:
    with pytest.raises(ConfigError, match=r"features\.derived\.0: .*feature evil: .*not allowed"):
        load_config(
            overrides=["features.derived=[{name: evil, expr: \"__import__('os').getcwd()\"}]"], environ={}
        )


def test_bins_must_increase() -> None:
    with pytest.raises(ConfigError, match=r"feature x: bins must increase"):
        load_config(
            overrides=["features.derived=[{name: x, column: age, bins: [0, 5, 5], labels: [a, b]}]"],
            environ={},
        )


def test_bins_match_pandas_cut_at_the_edges() -> None:
    bins, labels = [0.0, 30.0, 45.0, 60.0, 200.0], ["a", "b", "c", "d"]
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-10, 210, 2000), bins, np.nextafter(bins, 1e9), [np.nan, np.inf]])
    cut = pd.Series(pd.cut(values, bins=bins, labels=labels))
    expected = cut.astype(object).where(cut.notna(), None).to_numpy()
    assert bin_labels(values, bins, labels).tolist() == expected.tolist()
    assert bin_labels(np.array([0.0, 30.0, np.nan]), bins, labels).tolist() == [None, "a", None]


def test_one_row_and_a_frame_give_the_same_features() -> None:
    frame = build_features(_frame(), CFG.features, CFG.dataset)
    row = _frame().iloc[[2]]
    columns = {c: row[c].to_numpy() for c in [*CFG.dataset.numeric, *CFG.dataset.categorical]}
    one = derive({**columns, **{c: columns[c].astype("float64") for c in CFG.dataset.numeric}}, CFG.features)
    for name, values in one.items():
        assert values.shape == (1,)
        assert pd.isna(values[0]) == pd.isna(frame[name][2]) and (
            pd.isna(values[0]) or values[0] == frame[name][2]
        )


def test_a_derived_feature_needs_exactly_one_kind() -> None:
    with pytest.raises(ConfigError, match="exactly one of expr, flag, bins"):
        load_config(overrides=["features.derived=[{name: x, expr: a, flag: b}]"], environ={})
    with pytest.raises(ConfigError, match="len\\(bins\\) - 1 labels"):
        load_config(
            overrides=["features.derived=[{name: x, column: age, bins: [0, 1, 2], labels: [a]}]"], environ={}
        )


def test_a_flag_can_test_a_text_column() -> None:
    cfg = load_config(
        overrides=["features.derived=[{name: monthly, flag: \"contract == 'Month-to-month'\"}]"], environ={}
    )
    frame = _frame()
    out = build_features(frame, cfg.features, cfg.dataset)
    assert out["monthly"].tolist() == (frame["contract"] == "Month-to-month").astype(int).tolist()
    assert out["monthly"].dtype == "int64"


def test_bins_of_a_text_column_name_the_feature() -> None:
    cfg = load_config(
        overrides=["features.derived=[{name: odd, column: region, bins: [0, 1, 2], labels: [a, b]}]"],
        environ={},
    )
    with pytest.raises(
        ConfigError, match=r"features\.derived odd: cannot evaluate on the data: could not convert"
    ):
        build_features(_frame(), cfg.features, cfg.dataset)
