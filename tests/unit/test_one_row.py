"""One customer scored on scalars (common.serving.one_row) answers as the array path does: the same derived
features and probability for every candidate, on customers with missing values, unseen text and numbers outside
every bin; expressions that behave differently on Python values than on arrays (True + True, x/0, NaN as a flag)
still agree; a scalar path that disagrees at load is not used; and the server's log rows are the same either way."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features, derive, feature_types
from common.model.compiled import CompiledModel, scorer
from common.model.training import make_model
from common.serving import one_row
from common.serving.contract import customer_columns
from common.serving.one_row import RowScorer, probe_customers, row_scorer
from common.settings import FeaturesCfg

CFG = load_config(environ={})
DS = CFG.dataset
TYPES = feature_types(CFG.features, DS)
COLUMNS = list(TYPES)
SMALL = {
    "sklearn.ensemble.RandomForestClassifier": {"n_estimators": 10, "max_depth": 4, "random_state": 0},
    "sklearn.ensemble.HistGradientBoostingClassifier": {"max_iter": 10, "random_state": 0},
    "sklearn.linear_model.LogisticRegression": {"max_iter": 500},
}


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return generate(600, seed=5)


def _fitted(estimator: str, raw: pd.DataFrame) -> Any:
    features = build_features(raw, CFG.features, DS)
    return make_model(estimator, SMALL[estimator], TYPES).fit(features[COLUMNS], raw["churn"])


def _customers(raw: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """Rows as a request holds them, with what training never saw: nulls, unseen text, numbers off every bin."""
    rows = raw.head(n)[[DS.id_column, *DS.numeric, *DS.categorical]].astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    rows[0]["income"] = None
    rows[1]["gender"] = None
    rows[2]["region"] = "Atlantis"
    rows[3]["age"] = 250  # above the last bin edge
    rows[4]["tenure_months"] = -5  # below the first
    rows[5]["age"] = 45  # on an edge: right-closed
    rows[6]["tenure_months"] = 0
    rows[6]["total_charges"] = None
    rows[7]["monthly_charges"] = 0.0
    rows[7]["income"] = 0.0  # x/0
    return rows


def _array_path(customers: list[dict[str, Any]], fcfg: FeaturesCfg = CFG.features) -> dict[str, np.ndarray]:
    columns = customer_columns(customers, DS)
    return {**columns, **derive(columns, fcfg)}


def _assert_same(value: Any, expected: Any, where: str) -> None:
    if isinstance(expected, float | np.floating):
        assert isinstance(value, float | np.floating), where
        assert (np.isnan(value) and np.isnan(expected)) or value == expected, (
            f"{where}: {value!r} != {expected!r}"
        )
    else:
        assert (value == expected and type(value) is type(expected)) or (
            value is None and expected is None
        ), f"{where}: {value!r} != {expected!r}"


@pytest.mark.parametrize("estimator", list(SMALL))
def test_one_customer_on_scalars_scores_as_the_array_path(estimator: str, raw: pd.DataFrame) -> None:
    pipeline = _fitted(estimator, raw)
    score, kind = scorer(pipeline, COLUMNS)
    scalar = row_scorer(score, DS, CFG.features, COLUMNS)
    assert kind == "compiled" and scalar is not None
    customers = _customers(raw, 300)
    arrays = _array_path(customers)
    expected = score(arrays)
    for i, customer in enumerate(customers):
        features = scalar.features(customer)
        for name in COLUMNS:
            _assert_same(features[name], arrays[name][i], f"customer {i}, {name}")
        assert features[DS.id_column] == arrays[DS.id_column][i]
        assert abs(scalar.proba(features) - expected[i]) <= 1e-12, f"customer {i}"


def test_expressions_that_python_values_would_change_agree_with_the_arrays(raw: pd.DataFrame) -> None:
    """Text compared gives NumPy booleans (True + True is True), x/0 and log(0) are missing, NaN is a true flag, a
    later feature reads an earlier one, and a bin reads a derived number."""
    fcfg = FeaturesCfg.model_validate(
        {
            "derived": [
                {"name": "both", "expr": "(contract == 'Month-to-month') + (region == 'North')"},
                {"name": "either", "flag": "(gender == 'Female') | (income > 60000) & ~(age < 30)"},
                {"name": "per_month", "expr": "total_charges / tenure_months"},
                {"name": "log_income", "expr": "log(income) - sqrt(abs(monthly_charges)) ** 2 // 3 % 2"},
                {"name": "missing_is_true", "flag": "income"},
                {"name": "chained", "expr": "per_month * both + missing_is_true"},
                {
                    "name": "per_month_band",
                    "column": "per_month",
                    "bins": [-1, 10, 100],
                    "labels": ["low", "high"],
                },
                {"name": "is_high_band", "flag": "per_month_band == 'high'"},
            ]
        }
    )
    compiled = CompiledModel.from_pipeline(_fitted("sklearn.linear_model.LogisticRegression", raw))
    scalar = RowScorer(DS, fcfg, compiled)
    customers = _customers(raw, 200)
    customers[8]["tenure_months"] = 0  # total_charges / 0
    customers[9]["income"] = None
    arrays = _array_path(customers, fcfg)
    for i, customer in enumerate(customers):
        features = scalar.features(customer)
        for feature in fcfg.derived:
            _assert_same(features[feature.name], arrays[feature.name][i], f"customer {i}, {feature.name}")
    assert {arrays["both"][0], arrays["both"][1]} <= {0.0, 1.0}  # the arrays' booleans: never 2


def test_a_scalar_path_that_disagrees_at_load_is_not_used(raw: pd.DataFrame, monkeypatch, caplog) -> None:
    score, _ = scorer(_fitted("sklearn.linear_model.LogisticRegression", raw), COLUMNS)
    real = RowScorer.proba
    monkeypatch.setattr(RowScorer, "proba", lambda self, features: real(self, features) + 1e-6)
    with caplog.at_level(logging.WARNING, logger=one_row.__name__):
        assert row_scorer(score, DS, CFG.features, COLUMNS) is None
    assert "one-customer requests take the array path: the scalar path differs: customer 0: probability" in (
        caplog.text
    )


def test_a_pipeline_scorer_has_no_scalar_path(raw: pd.DataFrame) -> None:
    pipeline = _fitted("sklearn.linear_model.LogisticRegression", raw)
    assert row_scorer(
        lambda data: pipeline.predict_proba(pd.DataFrame(data))[:, 1], DS, CFG.features, COLUMNS
    ) is (None)


def test_probe_customers_are_requests_with_every_category_and_null(raw: pd.DataFrame) -> None:
    compiled = CompiledModel.from_pipeline(_fitted("sklearn.linear_model.LogisticRegression", raw))
    customers = probe_customers(compiled, DS)
    assert {c["contract"] for c in customers} >= {
        "Month-to-month",
        "One year",
        "Two year",
        None,
        "<never seen>",
    }
    assert any(c["income"] is None for c in customers)
    assert not any(isinstance(v, float) and np.isnan(v) for c in customers for v in c.values())


def _server(raw: pd.DataFrame, log_folder: Path) -> Any:
    from common.serving.inference_log import schema
    from common.serving.log_sinks import open_log
    from common.serving.server import ChurnModel

    spec = {
        "model_name": "churn-one-row",
        "version": "1",
        "dataset": DS.model_dump(),
        "features": CFG.features.model_dump(),
        "decision_threshold": 0.5,
        "max_batch": 100,
        "out_of_range": "accept",  # the unseen region and the age off every bin are scored
    }
    model = ChurnModel(spec)
    model.score, model.scorer_kind = scorer(_fitted("sklearn.linear_model.LogisticRegression", raw), COLUMNS)
    model.row = row_scorer(model.score, DS, CFG.features, COLUMNS)
    arrow = schema(DS.id_column, "int", model.kinds)
    model.inference_log = open_log(
        {
            "enabled": True,
            "folder": str(log_folder),
            "flush_rows": 100000,
            "flush_s": 3600,
            "max_buffered_rows": 10**6,
        },
        arrow,
    )
    return model


def test_the_server_answers_and_logs_one_customer_alike_on_both_paths(
    raw: pd.DataFrame, tmp_path: Path
) -> None:
    customers = _customers(raw, 12)
    scalar, array = _server(raw, tmp_path / "scalar"), _server(raw, tmp_path / "array")
    assert scalar.row is not None
    array.row = None
    try:
        for customer in customers:
            for model in (scalar, array):
                model._score({"instances": [customer]})
        ids, _ = scalar._score({"instances": customers[:1]})
        assert ids == [customers[0][DS.id_column]] and isinstance(ids[0], int)
    finally:
        for model in (scalar, array):
            model.inference_log.close()
    written = {
        side: pq.read_table(sorted((tmp_path / side).rglob("*.parquet")))
        .to_pandas()
        .drop(columns=["ts", "latency_ms"])
        for side in ("scalar", "array")
    }
    assert len(written["scalar"]) == len(customers) + 1
    pd.testing.assert_frame_equal(written["scalar"].head(len(customers)), written["array"], check_exact=True)
