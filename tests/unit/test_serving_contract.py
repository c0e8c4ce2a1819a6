import numpy as np
import pytest

from common.config import load_config
from uc1_churn_prediction.features import derive, feature_types
from uc1_churn_prediction.serving import (
    EXAMPLE_CUSTOMER,
    BadRequestError,
    customer_columns,
    parse_instances,
    predictions,
)

DS = load_config(environ={}).dataset
CUSTOMER = EXAMPLE_CUSTOMER


def _error(payload: object, max_batch: int = 100) -> str:
    with pytest.raises(BadRequestError) as err:
        parse_instances(payload, DS, max_batch)
    return str(err.value)


def test_full_and_id_only_instances_are_told_apart() -> None:
    parsed = parse_instances(
        {"instances": [CUSTOMER, {"customer_id": 12}, {**CUSTOMER, "income": None}]}, DS, 10
    )
    assert sorted(parsed.full) == [0, 2] and parsed.by_id == {1: 12}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], 'body: expected a JSON object {"instances": [...]}'),
        ({"rows": []}, 'body: expected a JSON object {"instances": [...]}'),
        ({"instances": {"a": 1}}, "instances: expected a list, got dict"),
        ({"instances": []}, "instances: empty"),
        ({"instances": [CUSTOMER] * 101}, "instances: 101 customers, over the limit of 100"),
        ({"instances": ["x"]}, "instances[0]: expected an object of customer fields, got str"),
        ({"instances": [{"age": 3}]}, "instances[0].customer_id: missing"),
        ({"instances": [{"customer_id": "7"}]}, "instances[0].customer_id: expected an integer, got '7'"),
        (
            {"instances": [{**CUSTOMER, "age": "forty"}]},
            "instances[0].age: expected a number or null, got 'forty'",
        ),
        ({"instances": [{**CUSTOMER, "gender": 1}]}, "instances[0].gender: expected a string or null, got 1"),
        (
            {"instances": [CUSTOMER, {k: v for k, v in CUSTOMER.items() if k != "tenure_months"}]},
            "instances[1].tenure_months: missing",
        ),
        ({"instances": [{**CUSTOMER, "salary": 1}]}, "instances[0].salary: unknown field"),
        ({"instances": [{**CUSTOMER, "age": True}]}, "instances[0].age: expected a number or null, got True"),
    ],
)
def test_each_bad_request_names_the_field(payload: object, message: str) -> None:
    assert message in _error(payload)


def test_valid_customers_become_model_features() -> None:
    cfg = load_config(environ={})
    raw = customer_columns([CUSTOMER, {**CUSTOMER, "customer_id": 8, "income": None, "gender": None}], DS)
    features = {**raw, **derive(raw, cfg.features)}
    assert set(feature_types(cfg.features, DS)) <= set(features)
    assert features["customer_id"].tolist() == [7, 8]
    assert features["charges_per_month"][0] == pytest.approx(842.4 / 13)
    assert np.isnan(features["income"][1]) and np.isnan(features["income_ratio"][1])
    assert features["gender"].tolist() == ["Female", None] and features["age_group"].tolist() == ["30-44"] * 2


def test_predictions_follow_the_seed_contract() -> None:
    out = predictions([7, 8], np.array([0.8, 0.3]), threshold=0.47)
    assert out == [
        {"customer_id": 7, "churn_probability": 0.8, "prediction": 1, "confidence": 0.8},
        {"customer_id": 8, "churn_probability": 0.3, "prediction": 0, "confidence": 0.7},
    ]
