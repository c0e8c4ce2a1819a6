"""UC5's pure parts: group metrics on a hand-computable frame, bootstrap intervals, the counterfactual flip rate
of a model that uses a sensitive feature and of one that ignores it, and the verdict."""

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.fairness.analysis import verdict
from common.fairness.metrics import bootstrap, by_group, disparities
from common.fairness.whatif import flip_rate
from common.features.engineering import build_features, feature_types
from common.model.training import make_model

CFG = load_config(environ={})
#               group A: 4 rows        group B: 4 rows
Y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
PRED = np.array([1, 0, 1, 0, 1, 0, 0, 0])
GROUPS = np.array(["A"] * 4 + ["B"] * 4)


def test_group_metrics_and_disparities_by_hand() -> None:
    table = by_group(Y, PRED, GROUPS)
    assert table["A"] == {
        "count": 4.0,
        "selection_rate": 0.5,
        "tpr": 0.5,
        "fpr": 0.5,
        "precision": 0.5,
        "accuracy": 0.5,
    }
    assert (table["B"]["selection_rate"], table["B"]["tpr"], table["B"]["fpr"]) == (0.25, 0.5, 0.0)
    found = disparities(Y, PRED, GROUPS)
    assert found["demographic_parity_difference"] == 0.25 and found["demographic_parity_ratio"] == 0.5
    assert found["equalized_odds_difference"] == 0.5  # FPR 0.5 against 0.0; TPR equal


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_rows() -> None:
    rng = np.random.default_rng(0)

    def width(n: int) -> tuple[float, list[float | None]]:
        y, groups = rng.integers(0, 2, n), rng.choice(["A", "B"], n)
        pred = (rng.random(n) < np.where(groups == "A", 0.6, 0.3)).astype(int)
        found = bootstrap(y, pred, {"g": groups}, 200, 1)["g"]["A"]["selection_rate"]
        return float(pred[groups == "A"].mean()), found

    point, (low, high) = width(400)
    assert low is not None and high is not None and low < point < high
    _, (low_big, high_big) = width(40_000)
    assert (high_big - low_big) < (high - low) / 5  # ~1/sqrt(100) as wide
    again = bootstrap(Y, PRED, {"g": GROUPS}, 50, 3)
    assert again == bootstrap(Y, PRED, {"g": GROUPS}, 50, 3)  # seeded


def _fitted(columns: list[str]) -> tuple[pd.DataFrame, object]:
    raw = generate(3000, seed=5, bias="gender")
    rows = build_features(raw, CFG.features, CFG.dataset)
    types = {k: v for k, v in feature_types(CFG.features, CFG.dataset).items() if k in columns}
    model = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, types)
    model.fit(rows[list(types)], raw["churn"])
    return rows, lambda df: model.predict_proba(df[list(types)])[:, 1]


def test_the_flip_rate_sees_a_model_that_uses_gender_and_not_one_that_ignores_it() -> None:
    every = list(feature_types(CFG.features, CFG.dataset))
    rows, uses = _fitted(every)
    _, ignores = _fitted([c for c in every if c != "gender"])
    args = (0.4, CFG.dataset, CFG.features)
    assert flip_rate(rows, "gender", uses, *args) > 0.1
    assert flip_rate(rows, "gender", ignores, *args) == 0.0
    assert flip_rate(rows, "age_group", ignores, *args) > 0.0  # a derived bin: its source column moves


def test_the_verdict_names_feature_metric_and_value() -> None:
    found = {
        "gender": {"disparities": {"demographic_parity_difference": 0.21, "demographic_parity_ratio": 0.7}},
        "region": {"disparities": {"demographic_parity_difference": 0.05, "demographic_parity_ratio": 0.9}},
    }
    limits = {"demographic_parity_difference": 0.1, "demographic_parity_ratio": 0.8}
    assert [f["text"] for f in verdict(found, limits)] == [  # no interval: the value is judged
        "gender: demographic_parity_difference 0.210 [0.210, 0.210] over "
        "fairness.thresholds.demographic_parity_difference 0.1",
        "gender: demographic_parity_ratio 0.700 [0.700, 0.700] under fairness.thresholds.demographic_parity_ratio 0.8",
    ]


def _judged(value: float, interval: list[float], metric: str = "demographic_parity_difference") -> list[dict]:
    found = {
        "gender": {
            "disparities": {metric: value},
            "disparity_intervals": {metric: interval},
            "judged_rows": 400,
        }
    }
    return verdict(found, {metric: 0.1 if metric.endswith("difference") else 0.8})


def test_a_disparity_fails_only_when_its_whole_interval_is_past_the_threshold() -> None:
    assert [f["status"] for f in _judged(0.21, [0.14, 0.28])] == ["beyond"]
    assert _judged(0.05, [0.01, 0.09]) == []  # wholly within: passed
    (unsure,) = _judged(0.13, [0.06, 0.20])  # over the threshold, but the interval reaches under it
    assert unsure["status"] == "straddles"
    assert (
        "interval [0.060, 0.200] straddles fairness.thresholds.demographic_parity_difference 0.1"
        in unsure["text"]
    )
    (under,) = _judged(0.07, [0.02, 0.12])  # under it, and the interval reaches over it: not a pass either
    assert under["status"] == "straddles"
    # a ratio is bad below its threshold: the interval's low end decides whether it is past
    assert [f["status"] for f in _judged(0.7, [0.6, 0.78], "demographic_parity_ratio")] == ["beyond"]
    assert [f["status"] for f in _judged(0.75, [0.65, 0.85], "demographic_parity_ratio")] == ["straddles"]
    assert _judged(0.9, [0.82, 0.97], "demographic_parity_ratio") == []


def test_a_straddling_interval_says_how_many_more_rows_would_settle_it() -> None:
    # half-width 0.07 at distance 0.03 from the threshold: 400 rows * (0.07 / 0.03)^2 = 2,178, so 1,778 more
    (unsure,) = _judged(0.13, [0.06, 0.20])
    assert unsure["text"].endswith("; about 1,778 more rows would settle it, if the disparity stays at 0.130")
    (on_it,) = _judged(0.1, [0.05, 0.15])
    assert on_it["text"].endswith("(the estimate sits on the threshold: more rows alone would not settle it)")


@pytest.mark.parametrize(
    ("violations", "inconclusive", "enforce", "block_inconclusive", "word"),
    [
        ([], [], "block", True, "passed"),
        ([], ["x"], "warn", True, "inconclusive"),
        ([], ["x"], "block", False, "inconclusive"),
        ([], ["x"], "block", True, "failed"),
        (["x"], [], "warn", False, "warn"),
        (["x"], ["y"], "block", False, "failed"),
    ],
)
def test_inconclusive_blocks_only_under_block_with_block_inconclusive(
    violations: list[str], inconclusive: list[str], enforce: str, block_inconclusive: bool, word: str
) -> None:
    from common.fairness.analysis import verdict_of

    assert verdict_of(violations, inconclusive, enforce, block_inconclusive) == word


def test_the_disparity_intervals_cover_the_true_gap_and_narrow_with_more_rows() -> None:
    from common.fairness.metrics import DISPARITY_KEY, bootstrap

    rng = np.random.default_rng(3)
    widths = []
    for n in (500, 8000):
        groups = rng.choice(["F", "M"], n)
        y = rng.integers(0, 2, n)
        pred = (rng.random(n) < np.where(groups == "F", 0.3, 0.45)).astype(int)  # a true gap of 0.15
        low, high = bootstrap(y, pred, {"gender": groups}, 200, 0)["gender"][DISPARITY_KEY][
            "demographic_parity_difference"
        ]
        assert low <= 0.15 <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5  # 16x the rows: about a quarter of the width


def test_chance_alone_never_fails_five_equal_groups_though_their_spread_often_crosses_the_threshold() -> None:
    """Five groups of about 80 with one true selection rate: the spread of their observed rates often exceeds
    0.1, and the resamples spread further still (a percentile interval would sit above the estimate); the basic
    interval takes that bias back and reaches under the threshold every time."""
    from common.fairness.metrics import DISPARITY_KEY, bootstrap, disparities

    crossed, beyond = 0, 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        groups, y = rng.choice(list("ABCDE"), 400), rng.integers(0, 2, 400)
        pred = (rng.random(400) < 0.3).astype(int)
        crossed += disparities(y, pred, groups)["demographic_parity_difference"] > 0.1
        low, _ = bootstrap(y, pred, {"region": groups}, 200, 0)["region"][DISPARITY_KEY][
            "demographic_parity_difference"
        ]
        beyond += low > 0.1
    assert crossed >= 10 and beyond == 0


@pytest.mark.parametrize("name", ["genderx", "charges_per_month"])
def test_a_sensitive_feature_must_be_a_column_or_a_derived_bin_or_flag(name: str) -> None:
    from common.errors import ConfigError
    from common.fairness.analysis import check_features

    cfg = load_config(overrides=[f"fairness.sensitive_features=[{name}]"], environ={})  # the other uses run
    with pytest.raises(ConfigError, match=rf"fairness.sensitive_features \['{name}'\]: not a column of the"):
        check_features(cfg)


def test_any_column_may_be_a_sensitive_feature_and_an_attribute_is_no_model_input() -> None:
    from common.fairness.analysis import check_features

    cfg = load_config(
        overrides=[
            "dataset.attributes=[ethnicity]",
            "fairness.sensitive_features=[ethnicity, age, is_high_value]",
        ],
        environ={},
    )
    check_features(cfg)  # an attribute, a numeric column, a derived flag
    assert "ethnicity" not in feature_types(cfg.features, cfg.dataset)
    assert "ethnicity" in cfg.dataset.columns  # extracted with every row, for UC5


def test_a_0_1_flag_is_two_groups_and_a_continuous_column_is_refused_naming_the_limit() -> None:
    from common.errors import ConfigError
    from common.fairness.analysis import MISSING, groups_of

    senior = pd.Series([0.0, 1.0, None, 1.0])  # a 0/1 integer column with a null reads as floats
    assert groups_of(senior, "SeniorCitizen", 20).tolist() == ["0", "1", MISSING, "1"]
    assert groups_of(pd.Series([True, False]), "flag", 20).tolist() == ["True", "False"]
    with pytest.raises(ConfigError, match=r"income: 50 distinct values, more than fairness.max_groups 20"):
        groups_of(pd.Series(np.arange(50) * 1000.5), "income", 20)


def test_the_figures_are_fairlearns_own() -> None:
    """Ours come from one count per group; fairlearn's functions and MetricFrame give the same numbers."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    rng = np.random.default_rng(4)
    y, pred, groups = rng.integers(0, 2, 3000), rng.integers(0, 2, 3000), rng.choice(["a", "b", "c"], 3000)
    found = disparities(y, pred, groups)
    assert found["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=groups), abs=1e-6
    )
    assert found["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y, pred, sensitive_features=groups), abs=1e-6
    )
    assert found["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=groups), abs=1e-6
    )
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    ).by_group
    for group, row in by_group(y, pred, groups).items():
        for metric in ("selection_rate", "tpr", "fpr"):
            assert row[metric] == pytest.approx(frame.loc[group, metric], abs=1e-6)


def test_a_group_with_one_class_counts_as_fairlearn_counts_it() -> None:
    """No positives in a group: its TPR is 0 to fairlearn, so the equalized odds difference is not hidden."""
    from fairlearn.metrics import equalized_odds_difference

    y = np.array([0] * 40 + [0, 1] * 20)
    pred = np.array([0] * 40 + [0, 1] * 20)
    groups = np.array(["a"] * 40 + ["b"] * 40)
    found = disparities(y, pred, groups)["equalized_odds_difference"]
    assert found == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=groups)) == 1.0


def test_a_resample_s_disparities_are_fairlearn_s_definitions_on_the_same_counts() -> None:
    """The bootstrap's vectorised spread (metrics._spread) and disparities_of agree, a group with no positive
    label (TPR undefined, 0 to fairlearn) and one that selects nobody included."""
    from common.fairness.metrics import _rates, _spread, confusion, disparities

    rng = np.random.default_rng(5)
    groups = rng.choice(["a", "b", "c", "d"], 600)
    y = np.where(groups == "c", 0, rng.integers(0, 2, 600))
    pred = np.where(groups == "d", 0, (rng.random(600) < np.where(groups == "a", 0.2, 0.5)).astype(int))
    counts = np.stack(list(confusion(y, pred, groups).values()))
    expected = disparities(y, pred, groups)
    assert np.allclose(_spread(_rates(counts)), [expected[k] or 0.0 for k in expected], atol=1e-6)


def _fair_alone_unfair_together(n: int = 1000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """n rows in each of four cells: Female & 1 and Male & 0 selected at 0.5, the other two at 0.2. Each gender
    and each senior flag then averages 0.35: fair alone, 0.3 apart together. Labels are coin flips, so TPR and
    FPR follow the selection rate."""
    rng = np.random.default_rng(11)
    rows = pd.DataFrame(
        {
            "gender": np.repeat(["Female", "Female", "Male", "Male"], n),
            "senior": np.tile(np.repeat([1, 0], n), 2),
        }
    )
    favoured = (rows["gender"] == "Female") == (rows["senior"] == 1)
    proba = rng.random(len(rows)) * np.where(favoured, 1.0, 0.625)  # P(>= 0.5): 0.5 and 0.2
    return rows, rng.integers(0, 2, len(rows)), proba


@pytest.mark.parametrize("intersections", ["[]", "[[gender, senior]]"])
def test_a_disparity_that_exists_only_at_the_intersection_is_found_only_with_the_intersection(
    intersections: str, tmp_path
) -> None:
    from common.fairness.analysis import analyse

    cfg = load_config(
        overrides=["fairness.sensitive_features=[gender, senior]", f"fairness.intersections={intersections}"],
        environ={},
    )
    rows, y, proba = _fair_alone_unfair_together()
    result = analyse(rows, y, proba, 0.5, None, cfg, tmp_path)
    for alone in ("gender", "senior"):
        assert result["features"][alone]["disparities"]["demographic_parity_difference"] < 0.05
    if intersections == "[]":
        assert result["verdict"] == "passed" and "gender & senior" not in result["features"]
        return
    together = result["features"]["gender & senior"]
    assert set(together["groups"]) == {"Female & 1", "Female & 0", "Male & 1", "Male & 0"}
    assert together["disparities"]["demographic_parity_difference"] > 0.25
    assert result["verdict"] == "warn" and result["violations"][0].startswith(
        "gender & senior: demographic_parity_difference 0.3"
    )
    assert {f["feature"] for f in result["findings"]} == {"gender & senior"}  # neither part alone
    assert (tmp_path / "roc_gender_x_senior.png").is_file()


def test_an_intersection_s_small_groups_are_shown_with_their_size_and_not_judged() -> None:
    from common.fairness.analysis import judge, sensitive_groups

    cfg = load_config(
        overrides=["fairness.intersections=[[gender, age_group]]", "fairness.min_group_size=30"], environ={}
    )
    rows = pd.DataFrame(
        {
            "gender": ["Female"] * 100 + ["Male"] * 100 + ["Other"] * 10,
            "age_group": (["18-29", "60+"] * 50) * 2 + ["60+"] * 10,
            "region": ["North"] * 210,
        }
    )
    groups = sensitive_groups(rows, cfg.fairness)["gender & age_group"]
    assert groups[0] == "Female & 18-29" and groups[-1] == "Other & 60+"
    y = np.zeros(210, dtype=int)
    pred = np.where(groups == "Other & 60+", 1, (np.arange(210) % 5 == 0).astype(int))  # Other: all selected
    found = judge(y, pred, {"gender & age_group": groups}, cfg.fairness)["gender & age_group"]
    assert found["small_groups"] == ["Other & 60+"] and found["groups"]["Other & 60+"]["count"] == 10
    assert found["groups"]["Other & 60+"]["small"] and found["groups"]["Other & 60+"]["selection_rate"] == 1.0
    # the 10 rows selected at 1.0 would make the spread 0.8 or more; without them it is the big groups' own
    rates = [found["groups"][g]["selection_rate"] for g in found["groups"] if g != "Other & 60+"]
    assert found["disparities"]["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))
    assert found["judged_rows"] == 200


@pytest.mark.parametrize(
    ("parts", "culprit"),
    [("[gender, genderx]", "genderx"), ("[charges_per_month, region]", "charges_per_month")],
)
def test_an_intersection_of_an_unusable_column_is_a_config_error_naming_it(parts: str, culprit: str) -> None:
    from common.errors import ConfigError
    from common.fairness.analysis import check_features

    cfg = load_config(overrides=[f"fairness.intersections=[{parts}]"], environ={})
    with pytest.raises(
        ConfigError, match=rf"fairness.intersections \[.*\]: {culprit} not a column of the dataset"
    ):
        check_features(cfg)


def test_an_intersection_needs_two_different_columns() -> None:
    from common.errors import ConfigError
    from common.fairness.analysis import check_features

    with pytest.raises(ConfigError, match=r"fairness.intersections"):
        load_config(overrides=["fairness.intersections=[[gender]]"], environ={})
    cfg = load_config(overrides=["fairness.intersections=[[gender, gender]]"], environ={})
    with pytest.raises(ConfigError, match=r"fairness.intersections \['gender', 'gender'\]: a column twice"):
        check_features(cfg)
