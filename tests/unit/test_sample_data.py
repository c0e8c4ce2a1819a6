import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from common.data.sample_data import generate

SEED_COLUMNS = [
    "customer_id",
    "age",
    "gender",
    "region",
    "income",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "total_purchases",
    "avg_order_value",
    "days_since_last_purchase",
    "support_tickets_count",
    "contract",
    "event_timestamp",
    "churn",
]


def test_columns_ids_and_determinism_by_seed() -> None:
    a, b, c = generate(2000, seed=1), generate(2000, seed=1), generate(2000, seed=2)
    assert list(a.columns) == SEED_COLUMNS
    pd.testing.assert_frame_equal(a, b)
    assert not a["age"].equals(c["age"])
    assert a["customer_id"].is_unique and a["customer_id"].min() == 1
    assert generate(10, id_offset=500)["customer_id"].min() == 501


def test_rows_do_not_depend_on_how_many_are_asked_for() -> None:
    big = generate(100_050, seed=5)
    pd.testing.assert_frame_equal(big.head(100_000), generate(100_000, seed=5))
    assert len(big) == 100_050 and big["customer_id"].is_unique


def test_churn_rate_is_realistic_and_learnable_but_noisy() -> None:
    df = generate(30_000, seed=42)
    assert 0.15 <= df["churn"].mean() <= 0.35
    x = pd.get_dummies(df.drop(columns=["customer_id", "churn", "event_timestamp"]), dtype=float)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, df["churn"], test_size=0.3, random_state=0, stratify=df["churn"]
    )
    model = HistGradientBoostingClassifier(random_state=0).fit(x_tr, y_tr)
    auc = roc_auc_score(y_te, model.predict_proba(x_te)[:, 1])
    assert 0.85 <= auc <= 0.93, auc  # learnable, never perfect


def test_values_fall_in_the_configured_ranges_and_sets() -> None:
    df = generate(5000)
    assert df["age"].between(18, 100).all()
    assert set(df["contract"]) == {"Month-to-month", "One year", "Two year"}
    assert 0 < df["income"].isna().mean() < 0.05  # a few gaps, as in a real warehouse
    assert (df["total_charges"] >= 0).all() and df["event_timestamp"].dt.tz is not None


def test_drifted_batch_shifts_distributions_and_churn_rate() -> None:
    base, drifted = generate(20_000, seed=3), generate(20_000, seed=3, drift=True)
    assert drifted["age"].mean() - base["age"].mean() > 4
    assert drifted["monthly_charges"].mean() > base["monthly_charges"].mean() * 1.1
    assert drifted["churn"].mean() - base["churn"].mean() > 0.08
    assert np.isclose(base["age"].mean(), 42, atol=1.5)
