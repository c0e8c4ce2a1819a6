"""Benchmark UC1 step 07's batch scoring: BENCH_ROWS (default 1,000,000) customers of a validated extract scored
by a trained pipeline and written to PostgreSQL (COPY, one transaction), chunk by chunk.

Targets: at most 60 s and a peak RSS of at most 1.5 GB. Each figure comes from a fresh interpreter measuring itself
(`--child`; its peak RSS from os.wait4). The anchor, in the same run, is scoring the same rows without writing them:
the ratio is what the warehouse write costs on top. The extract, the model and a throwaway database (server:
BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432) are made first, untimed, and removed at the end.

    BENCH_ROWS=20000 .venv/bin/python bench/bench_batch.py
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import measured_child, write_extract

from common.config import load_config
from common.telemetry import disable_telemetry

PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TARGET_S, TARGET_RSS_MB = 60, 1536


def child(mode: str, extract: str, model_file: str, url: str) -> None:
    """Score the extract (and write it, mode "write"); print the rows and seconds."""
    from common.data.warehouse import make_engine
    from common.model.batch import Batch, score_chunks, write

    cfg = load_config(environ={})
    model = pickle.loads(Path(model_file).read_bytes())
    start = time.perf_counter()
    batch = Batch("1", "data-v1", 0.5, datetime.now(UTC))
    chunks = score_chunks(Path(extract), model, cfg, batch, cfg.warehouse.chunk_rows)
    if mode == "write":
        rows = write(make_engine(url), "churn_predictions", chunks, batch)
    else:
        rows = sum(len(chunk) for chunk in chunks)
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - start, 2)}))


def _model(cfg: object, tmp: Path) -> Path:
    """A pipeline fitted on 20,000 customers, as training makes it."""
    from common.data.sample_data import generate
    from common.features.engineering import build_features, feature_types
    from common.model.training import make_model

    df = generate(20_000, seed=1)
    types = feature_types(cfg.features, cfg.dataset)
    model = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}, types)
    model.fit(build_features(df, cfg.features, cfg.dataset)[list(types)], df[cfg.dataset.target])
    path = tmp / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


def main() -> None:
    from sqlalchemy import create_engine, text

    disable_telemetry()
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    cfg = load_config(environ={})
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch."))
    name = f"bench_mlops_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        extract = write_extract(cfg, rows, tmp / "customers.parquet")
        model = _model(cfg, tmp)
        args = (str(extract), str(model), f"{PG_SERVER}/{name}")
        anchor = measured_child(__file__, "score", *args)
        done = measured_child(__file__, "write", *args)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "batch_scoring",
                "rows": done["rows"],
                "postgres_s": done["seconds"],
                "postgres_peak_rss_mb": done["peak_rss_mb"],
                "anchor_score_only_s": anchor["seconds"],
                "anchor_peak_rss_mb": anchor["peak_rss_mb"],
                "ratio_to_anchor": round(done["seconds"] / anchor["seconds"], 2),
                "rows_per_s": round(done["rows"] / done["seconds"]),
                "target_s": TARGET_S,
                "target_rss_mb": TARGET_RSS_MB,
                "met": done["seconds"] <= TARGET_S and done["peak_rss_mb"] <= TARGET_RSS_MB,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:6])
    else:
        main()
