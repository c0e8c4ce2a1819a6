import numpy as np
import pytest

from common.config import load_config
from common.data.expectations import expectation_specs
from common.features.engineering import derive, feature_types
from common.serving.contract import (
    EXAMPLE_CUSTOMER,
    BadRequestError,
    contract_of,
    customer_columns,
    parse_instances,
    predictions,
)

DS = load_config(environ={}).dataset
CUSTOMER = EXAMPLE_CUSTOMER
CONTRACT = contract_of(DS, 100)


def _error(payload: object) -> str:
    with pytest.raises(BadRequestError) as err:
        parse_instances(payload, CONTRACT)
    return str(err.value)


def test_full_and_id_only_instances_are_told_apart() -> None:
    parsed = parse_instances(
        {"instances": [CUSTOMER, {"customer_id": 12}, {**CUSTOMER, "income": None}]}, contract_of(DS, 10)
    )
    assert sorted(parsed.full) == [0, 2] and parsed.by_id == {1: 12} and parsed.out_of_range == []


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
        ({"instances": [{**CUSTOMER, "age": -5}]}, "instances[0].age: -5 is out of range: allowed 18 to 100"),
        ({"instances": [{**CUSTOMER, "age": 1e9}]}, "instances[0].age: 1000000000.0 is out of range"),
        (
            {"instances": [{**CUSTOMER, "total_charges": -0.5}]},
            "instances[0].total_charges: -0.5 is out of range: allowed at least 0",
        ),
        (
            {"instances": [CUSTOMER, {**CUSTOMER, "gender": "Zz"}]},
            "instances[1].gender: 'Zz' is not an allowed value: one of ['Female', 'Male', 'Other']",
        ),
    ],
)
def test_each_bad_request_names_the_field(payload: object, message: str) -> None:
    assert message in _error(payload)


def test_out_of_range_names_the_config_key_it_breaks() -> None:
    assert "(dataset.expectations.ranges.age)" in _error({"instances": [{**CUSTOMER, "age": 101}]})
    bad_contract = _error({"instances": [{**CUSTOMER, "contract": "Weekly"}]})
    assert "(dataset.expectations.value_sets.contract)" in bad_contract


def test_the_edges_and_missing_values_are_allowed() -> None:
    edges = [{**CUSTOMER, "age": 18}, {**CUSTOMER, "age": 100.0, "income": 0}, {**CUSTOMER, "gender": None}]
    assert parse_instances({"instances": edges}, CONTRACT).out_of_range == []


def test_accept_scores_out_of_range_values_and_names_each_field() -> None:
    odd = {**CUSTOMER, "age": 1e9, "gender": "Zz"}
    parsed = parse_instances({"instances": [odd, CUSTOMER, odd]}, contract_of(DS, 10, "accept"))
    assert sorted(parsed.full) == [0, 1, 2]
    assert parsed.out_of_range == ["age", "gender", "age", "gender"]


def test_serving_and_validation_read_the_same_declarations() -> None:
    """Change a range or a value set in config: the GX suite and the server's contract both follow."""
    ds = load_config(
        overrides=[
            "dataset.expectations.ranges.age={min: 21, max: 65}",
            "dataset.expectations.value_sets.region=[North]",
        ],
        environ={},
    ).dataset
    specs = {(kind, kw.get("column")): kw for kind, kw in expectation_specs(ds)}
    assert specs[("ExpectColumnValuesToBeBetween", "age")] == {
        "column": "age",
        "min_value": 21,
        "max_value": 65,
    }
    assert specs[("ExpectColumnValuesToBeInSet", "region")]["value_set"] == ["North"]
    contract = contract_of(ds, 10)
    for bad, message in (({"age": 20}, "allowed 21 to 65"), ({"region": "South"}, "one of ['North']")):
        with pytest.raises(BadRequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_instances({"instances": [{**CUSTOMER, **bad}]}, contract)
    parse_instances({"instances": [{**CUSTOMER, "age": 20}]}, contract_of(DS, 10))  # the default allows it


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


TEXT_DS = DS.model_copy(update={"id_type": "str"})
TEXT_IDS = contract_of(TEXT_DS, 10)


def test_text_ids_are_taken_and_returned_exactly_as_sent() -> None:
    parsed = parse_instances(
        {"instances": [{"customer_id": "7590-VHVEG"}, {**CUSTOMER, "customer_id": "0"}]}, TEXT_IDS
    )
    assert parsed.by_id == {0: "7590-VHVEG"} and list(parsed.full) == [1]
    raw = customer_columns([{**CUSTOMER, "customer_id": "0042"}], TEXT_DS)
    assert raw["customer_id"].tolist() == ["0042"]  # never 42
    out = predictions(["0042"], np.array([0.25]), 0.5, "customerID")
    assert out == [{"customerID": "0042", "churn_probability": 0.25, "prediction": 0, "confidence": 0.75}]


@pytest.mark.parametrize("bad", [42, "", None, ["x"]])
def test_a_text_id_contract_names_what_it_expected(bad: object) -> None:
    with pytest.raises(BadRequestError) as err:
        parse_instances({"instances": [{"customer_id": bad}]}, TEXT_IDS)
    expected = "missing" if bad is None else f"expected a text id (a non-empty JSON string), got {bad!r}"
    assert str(err.value) == f"instances[0].customer_id: {expected}"


def test_an_integer_id_contract_still_refuses_text() -> None:
    assert "expected an integer, got '7'" in _error({"instances": [{"customer_id": "7"}]})


TELCO = load_config("examples/telco_churn.yaml", ["dataset.id_type=str"], environ={}).dataset  # as served
TELCO_CONTRACT = contract_of(TELCO, 10)
TELCO_ROW = {  # a row as the warehouse holds it: text numbers (one blank), a Yes/No label, every column
    "customerID": "7590-VHVEG",
    "SeniorCitizen": 0,
    "tenure": 1,
    "MonthlyCharges": 29.85,
    "TotalCharges": "29.85",
    "gender": "Female",
    "Partner": "Yes",
    "Dependents": "No",
    "PhoneService": "No",
    "InternetService": "DSL",
    "Contract": "Month-to-month",
    "PaperlessBilling": "Yes",
    "Payment Method": "Electronic check",
    "Churn": "No",
}


def test_a_row_as_the_table_holds_it_is_read_by_step_01s_rules() -> None:
    rows = [
        TELCO_ROW,
        {**TELCO_ROW, "TotalCharges": "   ", "Churn": 1},
        {**TELCO_ROW, "extracted_at": "2026-01-01"},
    ]
    parsed = parse_instances({"instances": rows}, TELCO_CONTRACT)
    assert parsed.full[0]["TotalCharges"] == 29.85 and parsed.full[1]["TotalCharges"] is None
    features = customer_columns(list(parsed.full.values()), TELCO)
    assert features["TotalCharges"][0] == 29.85 and np.isnan(features["TotalCharges"][1])
    assert TELCO_ROW["TotalCharges"] == "29.85"  # the caller's row is left as it was sent


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"TotalCharges": "n/a"},
            "instances[0].TotalCharges: expected a number, a number as text or blank text",
        ),
        ({"TotalCharges": "nan"}, "(dataset.parse_numbers.TotalCharges)"),
        ({"Churn": "Maybe"}, "instances[0].Churn: 'Maybe' is not a label of the dataset"),
        ({"MonthlyCharges": "29.85"}, "instances[0].MonthlyCharges: expected a number or null, got '29.85'"),
    ],
)
def test_what_step_01_would_refuse_the_server_refuses_naming_the_key(change: dict, message: str) -> None:
    with pytest.raises(BadRequestError) as err:
        parse_instances({"instances": [{**TELCO_ROW, **change}]}, TELCO_CONTRACT)
    assert message in str(err.value)


@pytest.mark.parametrize("text", ["1", " 12.5 ", "1e3", "-0", "", "  ", "abc", "nan", "1,000", "0x10", "inf"])
def test_one_value_is_read_as_the_extract_reads_a_column(text: str) -> None:
    """The server's single-value reading and step 01's column reading agree on every kind of text."""
    import pandas as pd

    from common.data.parsing import TextNumbers, number_from_text

    column = TextNumbers("c")
    parsed = column.parse(pd.Series([text], dtype=object)).iloc[0]
    if column.not_numbers:
        with pytest.raises(ValueError):
            number_from_text(text)
    else:
        single = number_from_text(text)
        assert (single is None and np.isnan(parsed)) or single == parsed


def test_an_attribute_and_the_label_ride_along_unscored() -> None:
    ds = DS.model_copy(update={"attributes": ["ethnicity"]})
    parsed = parse_instances({"instances": [{**CUSTOMER, "ethnicity": "A", "churn": 1}]}, contract_of(ds, 10))
    assert list(parsed.full) == [0]
    assert "ethnicity" not in customer_columns(list(parsed.full.values()), ds)
