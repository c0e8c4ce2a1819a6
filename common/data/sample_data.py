"""Synthetic customers with a noisy churn mechanism; seeds the embedded warehouse, loads any warehouse on demand.

python -m common.data.sample_data --rows 1000000 --set warehouse.url=postgresql+psycopg://postgres@127.0.0.1/shop
python -m common.data.sample_data --rows 20000 --drift --append     # a drifted batch, for drift detection
python -m common.data.sample_data --feedback     # churn labels for the customers the model server logged
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.data.warehouse import copy_frame

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from common.settings import Settings
    from common.workspace import Workspace

log = logging.getLogger(__name__)
CHUNK = 100_000  # generation unit: chunk i always draws from seed (seed, i), so output is set by seed and row count
ANCHOR = pd.Timestamp("2026-01-01", tz="UTC")  # fixed, not now(): the same seed gives the same timestamps
CONTRACTS = ["Month-to-month", "One year", "Two year"]
REGIONS = ["North", "South", "East", "West", "Central"]


BIASES = ("gender",)  # a churn mechanism that depends on a sensitive attribute, for fairness checks (UC5)


def generate(
    rows: int, seed: int = 42, drift: bool = False, id_offset: int = 0, bias: str | None = None
) -> pd.DataFrame:
    """`rows` customers, deterministic by (seed, drift, id_offset, bias)."""
    parts = [
        _chunk(min(CHUNK, rows - start), seed, start // CHUNK, drift, id_offset + start, bias)
        for start in range(0, rows, CHUNK)
    ]
    return pd.concat(parts, ignore_index=True) if parts else _chunk(0, seed, 0, drift, id_offset, bias)


def _chunk(
    n: int, seed: int, index: int, drift: bool, first_id: int, bias: str | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng([seed, index, int(drift)])
    shift = 1.0 if drift else 0.0
    contract = rng.choice(CONTRACTS, n, p=[0.62, 0.24, 0.14] if drift else [0.5, 0.3, 0.2])
    tenure_scale = np.select([contract == CONTRACTS[0], contract == CONTRACTS[1]], [14, 30], 45)
    tenure = np.clip(rng.exponential(tenure_scale) + (contract != CONTRACTS[0]) * 6, 0, 120).round()
    age = np.clip(rng.normal(42 + 6 * shift, 13, n), 18, 90).round()
    income = np.clip(rng.lognormal(np.log(55_000 * (1 - 0.15 * shift)), 0.45, n), 8_000, 500_000).round(2)
    monthly = np.clip(rng.lognormal(np.log(65 * (1 + 0.2 * shift)), 0.35, n), 15, 250).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, n)).round(2)
    purchases = rng.poisson(tenure * 0.8 + 2)
    order_value = rng.lognormal(np.log(45) + 0.3 * (np.log(income) - np.log(55_000)), 0.4).round(2)
    days_since = np.clip(rng.exponential(30, n), 0, 3650).round()
    tickets = rng.poisson(0.8 + 0.8 * shift + 0.004 * np.maximum(monthly - 65, 0))
    # Calibrated so churn is ~31 % and a good model reaches ROC AUC ~0.9 (best F1 ~0.74), never 1.0: the noise
    # term is signal no feature carries. The drifted batch churns more through its shifted features alone.
    logit = (
        -2.4
        + 2.25 * (contract == CONTRACTS[0])
        - 1.2 * (contract == CONTRACTS[2])
        - 0.075 * (tenure - 20)
        + 0.027 * (monthly - 65)
        + 0.75 * (tickets - 1)
        + 0.033 * (days_since - 30)
        - 0.0225 * (age - 42)
        + rng.normal(0, 0.6, n)
    )
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    income[rng.random(n) < 0.01] = np.nan  # real warehouses have gaps
    seconds = rng.uniform(0, 365 * 86_400, n)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(first_id + 1, first_id + n + 1, dtype=np.int64),
            "age": age,
            "gender": rng.choice(["Female", "Male", "Other"], n, p=[0.49, 0.49, 0.02]),
            "region": rng.choice(REGIONS, n),
            "income": income,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "total_purchases": purchases.astype(np.int64),
            "avg_order_value": order_value,
            "days_since_last_purchase": days_since,
            "support_tickets_count": tickets.astype(np.int64),
            "contract": contract,
            "event_timestamp": ANCHOR - pd.to_timedelta(seconds, unit="s").round("s"),
            "churn": churn,
        }
    )
    if (
        bias == "gender"
    ):  # women churn more through gender alone: a model that learns it treats them differently
        extra = np.where(frame["gender"] == "Female", 1.5, -0.5)
        draw = np.random.default_rng([seed, index, int(drift), 7]).random(
            n
        )  # its own stream: the rest unchanged
        frame["churn"] = (draw < 1 / (1 + np.exp(-(logit + extra)))).astype(np.int64)
    return frame


def load(
    engine: Engine,
    table: str,
    rows: int,
    seed: int,
    *,
    drift: bool = False,
    id_offset: int = 0,
    replace: bool = True,
    bias: str | None = None,
) -> int:
    """Write `rows` generated customers into `table` chunk by chunk; PostgreSQL gets COPY."""
    written = 0
    for start in range(0, rows, CHUNK):
        df = _chunk(min(CHUNK, rows - start), seed, start // CHUNK, drift, id_offset + start, bias)
        mode = "replace" if replace and start == 0 else "append"
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                df.head(0).to_sql(table, conn, if_exists=mode, index=False)
                copy_frame(conn, table, df)
            else:
                df.to_sql(table, conn, if_exists=mode, index=False, chunksize=20_000)
        written += len(df)
        log.info("loaded %d/%d customers into %s", written, rows, table)
    with engine.begin() as conn:  # as a real warehouse has: extraction orders by it
        conn.exec_driver_sql(
            f'CREATE INDEX IF NOT EXISTS "ix_{table}_customer_id" ON "{table}" (customer_id)'
        )
    return written


def main(argv: list[str] | None = None) -> int:
    from common.cli import base_parser, execute
    from common.data.warehouse import make_engine, warehouse_url

    parser = base_parser("Load synthetic customers into the configured warehouse table.")
    parser.add_argument("--rows", type=int, help="customers to load (default: sample_data.rows)")
    parser.add_argument("--seed", type=int, help="random seed (default: sample_data.seed)")
    parser.add_argument("--drift", action="store_true", help="a drifted batch: older, poorer, more churn")
    parser.add_argument("--id-offset", type=int, default=0, help="first customer_id is this + 1")
    parser.add_argument("--append", action="store_true", help="append instead of replacing the table")
    parser.add_argument(
        "--bias", choices=BIASES, help="churn depends on this sensitive attribute (UC5's test)"
    )
    parser.add_argument(
        "--feedback",
        action="store_true",
        help="write drift.feedback_table labels for the customers logged in the last drift window, and exit",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.parquet",
        help="also write the same customers to this Parquet file (to replay them)",
    )
    args = parser.parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        if args.feedback:
            from datetime import UTC, datetime

            from common.drift.feedback import label_logged

            n = label_logged(cfg, ws, datetime.now(UTC))
            return {"step": "sample_data", "status": "ok", "table": cfg.drift.feedback_table, "rows": n}
        rows, seed = (
            args.rows or cfg.sample_data.rows,
            cfg.sample_data.seed if args.seed is None else args.seed,
        )
        engine = make_engine(warehouse_url(cfg.warehouse, ws), cfg.warehouse.connect_timeout_s)
        n = load(
            engine,
            cfg.dataset.table,
            rows,
            seed,
            drift=args.drift,
            id_offset=args.id_offset,
            replace=not args.append,
            bias=args.bias or cfg.sample_data.bias,
        )
        if args.out:
            from common.workspace import write_bytes

            frame = generate(rows, seed, args.drift, args.id_offset, args.bias or cfg.sample_data.bias)
            write_bytes(args.out, frame.to_parquet(index=False))
        return {
            "step": "sample_data",
            "status": "ok",
            "table": cfg.dataset.table,
            "rows": n,
            "drift": args.drift,
            "out": args.out,
        }

    return execute("sample_data", None, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
