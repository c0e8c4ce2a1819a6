"""Load a customers table shaped like the public Telco churn table into the configured warehouse: text ids
(7590-VHVEG), Yes/No labels, TotalCharges stored as text with blanks (new customers), mixed-case names, one name
with a space, and no timestamp column. Seeded: the same seed and row count give the same table.

    python examples/telco_customers.py --config examples/telco_churn.yaml           # its embedded SQLite file
    python examples/telco_customers.py --config examples/telco_churn.yaml \\
        --set warehouse.url=postgresql://postgres@127.0.0.1/telco                  # an existing database
"""

from __future__ import annotations

import logging
import string
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("examples.telco_customers")
CONTRACTS = ["Month-to-month", "One year", "Two year"]
INTERNET = ["DSL", "Fiber optic", "No"]
PAYMENT = ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"]


def generate(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """`rows` customers as the warehouse stores them: every value text or number, as the public table has."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, rows, p=[0.55, 0.21, 0.24])
    scale = np.select([contract == CONTRACTS[0], contract == CONTRACTS[1]], [14.0, 35.0], 50.0)
    tenure = np.clip(rng.exponential(scale) + (contract != CONTRACTS[0]) * 10, 1, 72).astype(int)
    tenure[rng.random(rows) < 0.006] = 0  # signed up this month: no total charges yet
    internet = rng.choice(INTERNET, rows, p=[0.34, 0.44, 0.22])
    phone = rng.random(rows) < 0.9
    monthly = (
        20 + 25 * (internet == "DSL") + 50 * (internet == "Fiber optic") + 5 * phone + rng.normal(0, 8, rows)
    )
    monthly = np.clip(monthly, 18.25, 118.75).round(2)
    senior = (rng.random(rows) < 0.16).astype(int)
    payment = rng.choice(PAYMENT, rows, p=[0.34, 0.23, 0.22, 0.21])
    paperless = rng.random(rows) < 0.59
    logit = (
        -3.3
        + 1.7 * (contract == CONTRACTS[0])
        - 1.1 * (contract == CONTRACTS[2])
        - 0.045 * (tenure - 24)
        + 0.75 * (internet == "Fiber optic")
        + 0.5 * (payment == PAYMENT[0])
        + 0.35 * senior
        + 0.3 * paperless
        + rng.normal(0, 0.3, rows)
    )
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    total = np.where(tenure == 0, " ", [f"{t:.2f}" for t in monthly * tenure * rng.uniform(0.95, 1.05, rows)])
    return pd.DataFrame(
        {
            "customerID": _ids(rng, rows),
            "gender": rng.choice(["Female", "Male"], rows),
            "SeniorCitizen": senior,
            "Partner": _yes_no(rng.random(rows) < 0.48),
            "Dependents": _yes_no(rng.random(rows) < 0.3),
            "tenure": tenure,
            "PhoneService": _yes_no(phone),
            "InternetService": internet,
            "Contract": contract,
            "PaperlessBilling": _yes_no(paperless),
            "Payment Method": payment,
            "MonthlyCharges": monthly,
            "TotalCharges": total,
            "Churn": _yes_no(churn),
        }
    )


def _ids(rng: np.random.Generator, rows: int) -> list[str]:
    """Unique ids like 7590-VHVEG."""
    ids: dict[str, None] = {}
    letters = np.array(list(string.ascii_uppercase))
    while len(ids) < rows:
        digits = rng.integers(0, 10_000)
        ids.setdefault(f"{digits:04d}-{''.join(rng.choice(letters, 5))}")
    return list(ids)


def _yes_no(flags: np.ndarray) -> np.ndarray:
    return np.where(flags, "Yes", "No")


def load(engine: Any, table: str, df: pd.DataFrame) -> int:
    """Replace `table` with `df`; ids, labels and TotalCharges as text, as in the public table."""
    from sqlalchemy import types

    text = {c: types.Text() for c, dtype in df.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)}
    with engine.begin() as conn:
        df.to_sql(table, conn, if_exists="replace", index=False, dtype=text)
    return len(df)


def main(argv: list[str] | None = None) -> int:
    from common.cli import base_parser, execute
    from common.data.warehouse import make_engine, safe_url, warehouse_url

    parser = base_parser(__doc__ or "telco_customers")
    parser.add_argument("--rows", type=int, default=2000, help="customers to write (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)

    def body(cfg: Any, ws: Any) -> dict[str, Any]:
        url = warehouse_url(cfg.warehouse, ws)
        engine = make_engine(url, cfg.warehouse.connect_timeout_s)
        try:
            rows = load(engine, cfg.dataset.table, generate(args.rows, args.seed))
        finally:
            engine.dispose()
        log.info("wrote %d customers into %s at %s", rows, cfg.dataset.table, safe_url(url))
        return {"step": "telco_customers", "status": "ok", "table": cfg.dataset.table, "rows": rows}

    return execute("telco_customers", None, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
