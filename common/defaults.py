"""The defaults that are too long to sit beside their keys in common/settings.py: the sample table (its columns and
expectations), what is built on it (derived features, sensitive features, the model card's texts), the candidates
and the gate's floors. config.yaml shows the same values: tests/unit/test_defaults.py holds the two equal.

The sample table and what is built on it are defaults only as a whole: a config that gives its own `dataset:`
starts the keys of TABLE_BOUND empty, so nothing of the sample table leaks into the description of another one."""

from __future__ import annotations

from typing import Any

SAMPLE_DATASET: dict[str, Any] = {
    "table": "customers",
    "id_column": "customer_id",
    "id_type": "auto",
    "target": "churn",
    "timestamp": "event_timestamp",
    "numeric": [
        "age",
        "income",
        "tenure_months",
        "monthly_charges",
        "total_charges",
        "total_purchases",
        "avg_order_value",
        "days_since_last_purchase",
        "support_tickets_count",
    ],
    "categorical": ["gender", "region", "contract"],
    "expectations": {
        "row_count": {"min": 100, "max": 50_000_000},
        "not_null": {
            "customer_id": 1.0,
            "event_timestamp": 1.0,
            "churn": 1.0,
            "age": 1.0,
            "gender": 1.0,
            "region": 1.0,
            "contract": 1.0,
            "income": 0.95,
            "tenure_months": 1.0,
            "monthly_charges": 1.0,
            "total_charges": 0.99,
        },
        "ranges": {
            "age": {"min": 18, "max": 100},
            "income": {"min": 0, "max": 1_000_000},
            "tenure_months": {"min": 0, "max": 600},
            "monthly_charges": {"min": 0, "max": 10_000},
            "total_charges": {"min": 0},
            "total_purchases": {"min": 0},
            "avg_order_value": {"min": 0},
            "days_since_last_purchase": {"min": 0, "max": 3650},
            "support_tickets_count": {"min": 0, "max": 1000},
        },
        "value_sets": {
            "gender": ["Female", "Male", "Other"],
            "region": ["North", "South", "East", "West", "Central"],
            "contract": ["Month-to-month", "One year", "Two year"],
            "churn": [0, 1],
        },
        "unique": ["customer_id"],
    },
}

SAMPLE_DERIVED: list[dict[str, Any]] = [
    {"name": "charges_per_month", "expr": "total_charges / (tenure_months + 1)"},
    {"name": "income_ratio", "expr": "monthly_charges * 12 / income"},
    {"name": "is_high_value", "flag": "total_charges > 3000"},
    {
        "name": "age_group",
        "column": "age",
        "bins": [0, 30, 45, 60, 200],
        "labels": ["18-29", "30-44", "45-59", "60+"],
    },
    {
        "name": "tenure_group",
        "column": "tenure_months",
        "bins": [-1, 12, 24, 48, 10000],
        "labels": ["0-12", "13-24", "25-48", "49+"],
    },
]

SAMPLE_SENSITIVE = ["gender", "age_group", "region"]
SAMPLE_INTERSECTIONS = [["gender", "age_group"]]  # a disparity neither feature shows alone

SAMPLE_CARD: dict[str, Any] = {
    "intended_use": ["Rank customers for retention offers; a person decides on each offer."],
    "users": ["The retention team and its analysts."],
    "owners": [{"name": "ML platform team", "contact": "ml-platform@example.com"}],
    "limitations": [
        "Trained on synthetic customers (common/data/sample_data.py); retrain on real data before any use.",
        "Scores drift as customers change; UC3 watches for it.",
    ],
    "tradeoffs": ["The decision threshold favours recall over precision (training.gate floors)."],
    "ethical_considerations": [
        {
            "name": "Age bias",
            "mitigation_strategy": "Balanced training data across age groups; UC5 reports parity by age group.",
        },
        {
            "name": "Gender",
            "mitigation_strategy": "Gender is an input; its counterfactual flip rate and parity are reported.",
        },
    ],
}

# (section, key): the keys that describe the sample table, emptied when a config gives its own dataset
TABLE_BOUND: dict[tuple[str, str], Any] = {
    ("features", "derived"): [],
    ("fairness", "sensitive_features"): [],
    ("fairness", "intersections"): [],
    **{("model_card", key): [] for key in SAMPLE_CARD},
}

# Fast and as good on the sample data (bench/bench_training.py): histogram gradient boosting (sklearn's choice
# above 10k rows, ~50x faster than GradientBoostingClassifier here), a forest whose trees each see half the rows,
# and a logistic regression (the champion on the sample data).
CANDIDATES: list[dict[str, Any]] = [
    {
        "name": "random_forest",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {
            "n_estimators": 100,
            "max_depth": 10,
            "min_samples_leaf": 10,
            "max_samples": 0.5,
            "class_weight": "balanced",
            "n_jobs": -1,
            "random_state": 42,
        },
    },
    {
        "name": "gradient_boosting",
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": {"max_iter": 150, "max_depth": 3, "learning_rate": 0.1, "random_state": 42},
    },
    {
        "name": "logistic_regression",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 1000, "C": 1.0},
    },
]

GATE_FLOORS: dict[str, float] = {
    "accuracy": 0.75,
    "precision": 0.70,
    "recall": 0.65,
    "f1": 0.70,
    "roc_auc": 0.75,
}


def own_table(data: dict[str, Any]) -> dict[str, Any]:
    """The raw config with the table-bound keys it leaves out emptied, when it describes its own dataset."""
    if "dataset" not in data:
        return data
    out = dict(data)
    for (section, key), empty in TABLE_BOUND.items():
        given = out.get(section)
        if given is None:
            out[section] = {key: empty}
        elif isinstance(given, dict) and key not in given:
            out[section] = {**given, key: empty}
    return out
