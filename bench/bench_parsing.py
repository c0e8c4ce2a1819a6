"""Benchmark step 01's declared parsing: the example table's shape (examples/telco_churn.yaml: TotalCharges as
text with blanks, Yes/No labels, text ids, no timestamp column) cast chunk by chunk, against its anchor, the same
rows already typed (numbers as numbers, labels as 0/1) through the same cast with no parsing declared.

Target: the parsing costs at most 1.5 times the anchor (ratio <= 1.5), per row, in the same run. Rows are
BENCH_ROWS (default 1,000,000) in chunks of warehouse.chunk_rows; the rows are built before timing. Each side
runs BENCH_REPEATS times (default 3), alternating, and the median counts.

    BENCH_ROWS=100000 .venv/bin/python bench/bench_parsing.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def main() -> int:
    sys.path.insert(0, str(ROOT / "examples"))
    from telco_customers import generate

    from common.config import load_config
    from common.data.schema import Cast, arrow_schema

    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    cfg = load_config(ROOT / "examples" / "telco_churn.yaml", environ={})
    raw = generate(min(rows, 200_000), seed=1)
    raw = pd.concat([raw] * -(-rows // len(raw)), ignore_index=True).head(rows)
    typed = raw.assign(
        TotalCharges=pd.to_numeric(raw["TotalCharges"].str.strip().replace("", None)),
        Churn=(raw["Churn"] == "Yes").astype("int64"),
    )
    parsed_ds = cfg.dataset
    plain_ds = parsed_ds.model_copy(
        update={"parse_numbers": {}, "positive_label": None, "negative_labels": []}
    )
    chunk = cfg.warehouse.chunk_rows
    now = datetime.now(UTC)

    def cast_all(ds: object, frame: pd.DataFrame) -> float:
        cast = Cast(ds, arrow_schema(ds, "str"), now)
        start = time.perf_counter()
        for at in range(0, len(frame), chunk):
            cast.table(frame.iloc[at : at + chunk])
        assert not cast.problems()
        return time.perf_counter() - start

    parsed, plain = [], []
    for _ in range(repeats):
        parsed.append(cast_all(parsed_ds, raw))
        plain.append(cast_all(plain_ds, typed))
    p, a = statistics.median(parsed), statistics.median(plain)
    print(
        json.dumps(
            {
                "bench": "parsing",
                "rows": rows,
                "parsing_s": round(p, 3),
                "anchor_s": round(a, 3),
                "ratio": round(p / a, 2),
                "rows_per_s": round(rows / p),
                "target_ratio": TARGET_RATIO,
                "met": p / a <= TARGET_RATIO,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
