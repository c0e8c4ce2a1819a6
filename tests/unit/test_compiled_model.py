import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features, feature_types
from common.model import compiled as compiled_model
from common.model.compiled import CompiledModel, NotCompilableError, probe_rows, scorer
from common.model.training import make_model

CFG = load_config(environ={})
TYPES = feature_types(CFG.features, CFG.dataset)
COLUMNS = list(TYPES)
SMALL = {  # the seed's candidates, small enough to fit in a unit test
    "sklearn.ensemble.RandomForestClassifier": {"n_estimators": 10, "max_depth": 4, "random_state": 0},
    "sklearn.ensemble.GradientBoostingClassifier": {"n_estimators": 10, "random_state": 0},
    "sklearn.linear_model.LogisticRegression": {"max_iter": 500},
}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    raw = generate(600, seed=5)
    features = build_features(raw, CFG.features, CFG.dataset)
    return features[COLUMNS], raw["churn"]


def _scoring_rows(x: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows with what training never saw: missing values and an unseen category."""
    rows = x.head(50).copy()
    rows.loc[0, "income"] = np.nan
    rows.loc[1, "gender"] = None
    rows.loc[2, "region"] = "Atlantis"
    rows.loc[3, "age_group"] = np.nan
    return {c: rows[c].to_numpy() for c in COLUMNS}


@pytest.mark.parametrize("estimator", list(SMALL))
def test_each_candidate_compiles_and_scores_as_its_pipeline(estimator: str, data) -> None:
    x, y = data
    pipeline = make_model(estimator, SMALL[estimator], TYPES).fit(x, y)
    score, kind = scorer(pipeline, COLUMNS)
    rows = _scoring_rows(x)
    expected = pipeline.predict_proba(pd.DataFrame(rows))[:, 1]
    assert kind == "compiled"
    np.testing.assert_allclose(score(rows), expected, rtol=0, atol=1e-12)
    one = {c: v[:1] for c, v in rows.items()}
    np.testing.assert_allclose(score(one), expected[:1], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("estimator", "linear"), [(e, e.endswith("LogisticRegression")) for e in SMALL])
def test_a_logistic_regression_is_scored_from_its_coefficients(estimator: str, linear: bool, data) -> None:
    """Only a binary LogisticRegression skips sklearn's predict_proba; it still equals it."""
    x, y = data
    pipeline = make_model(estimator, SMALL[estimator], TYPES).fit(x, y)
    compiled = CompiledModel.from_pipeline(pipeline)
    assert (compiled.linear is not None) is linear
    rows = _scoring_rows(x)
    sklearn_own = pipeline[-1].predict_proba(compiled.matrix(rows))[:, 1]
    np.testing.assert_array_equal(compiled.predict_proba(rows), sklearn_own)


def test_probe_rows_cover_every_category_and_missing_values(data) -> None:
    x, y = data
    compiled = CompiledModel.from_pipeline(make_model(*next(iter(SMALL.items())), TYPES).fit(x, y))
    probe = probe_rows(compiled)
    assert set(probe) == set(COLUMNS)
    assert (
        set(x["region"]) | {None, "<never seen>"} <= set(probe["region"]) and np.isnan(probe["income"]).any()
    )


def test_another_pipeline_shape_is_scored_by_sklearn_itself(data) -> None:
    from sklearn.preprocessing import MinMaxScaler

    x, y = data
    pipeline = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, TYPES)
    pipeline.set_params(columns__num__standardscaler=MinMaxScaler()).fit(x, y)
    with pytest.raises(
        NotCompilableError, match=r"num: \['SimpleImputer', 'MinMaxScaler'\] is not a compiled"
    ):
        CompiledModel.from_pipeline(pipeline)
    score, kind = scorer(pipeline, COLUMNS)
    rows = _scoring_rows(x)
    assert kind == "pipeline"
    np.testing.assert_array_equal(score(rows), pipeline.predict_proba(pd.DataFrame(rows))[:, 1])


def test_a_compiled_model_that_disagrees_with_its_pipeline_is_not_used(data, monkeypatch) -> None:
    x, y = data
    pipeline = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, TYPES).fit(x, y)
    original = compiled_model._Numbers.fill_in

    def off_by_a_bit(self, data, out) -> None:
        original(self, data, out)
        out += 0.01

    monkeypatch.setattr(compiled_model._Numbers, "fill_in", off_by_a_bit)
    score, kind = scorer(pipeline, COLUMNS)
    rows = _scoring_rows(x)
    assert kind == "pipeline"
    np.testing.assert_array_equal(score(rows), pipeline.predict_proba(pd.DataFrame(rows))[:, 1])
