"""Batch scoring against real warehouses (PostgreSQL by COPY, and the embedded SQLite): every customer scored
chunk by chunk with the probabilities the pipeline itself gives; a rerun for the same data and model version
replaces its rows, another model version adds its own; the Parquet holds the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features, feature_types
from common.model.batch import Batch, parquet_sink, score_chunks, write
from common.model.training import make_model


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cfg = load_config(environ={})
    df = generate(1000, seed=3)
    path = tmp_path_factory.mktemp("batch") / "customers.parquet"
    df.to_parquet(path)
    types = feature_types(cfg.features, cfg.dataset)
    features = build_features(df, cfg.features, cfg.dataset)[list(types)]
    model = make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, types)
    model.fit(features, df[cfg.dataset.target])
    return {
        "cfg": cfg,
        "path": path,
        "model": model,
        "expected": model.predict_proba(features)[:, 1],
        "ids": df["customer_id"],
    }


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    from common.data.warehouse import make_engine

    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'w.db'}"
    )
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _run(scored: dict, engine, version: str, sink=lambda chunk: None) -> int:
    batch = Batch(version, "data-v1", 0.4, datetime.now(UTC))
    chunks = score_chunks(scored["path"], scored["model"], scored["cfg"], batch, chunk_rows=300)
    return write(engine, "churn_predictions", chunks, batch, sink)


def test_every_customer_is_scored_in_chunks_and_a_rerun_replaces(
    scored: dict, engine, tmp_path: Path
) -> None:
    seen: list[int] = []
    assert _run(scored, engine, "1", lambda chunk: seen.append(len(chunk))) == 1000
    assert seen == [300, 300, 300, 100]  # memory holds a chunk, not the table
    assert _run(scored, engine, "1") == 1000  # the same data and model version again
    assert _run(scored, engine, "2") == 1000  # another model version keeps the first one's rows
    rows = pd.read_sql("SELECT * FROM churn_predictions ORDER BY model_version, customer_id", engine)
    assert rows.groupby(["data_version", "model_version"]).size().to_dict() == {
        ("data-v1", "1"): 1000,
        ("data-v1", "2"): 1000,
    }
    first = rows[rows["model_version"] == "1"]
    assert first["customer_id"].tolist() == sorted(scored["ids"].tolist())
    by_id = dict(zip(scored["ids"], scored["expected"], strict=True))
    assert first["churn_probability"].to_numpy() == pytest.approx(
        [by_id[i] for i in first["customer_id"]], abs=1e-9
    )
    assert (first["prediction"] == (first["churn_probability"] >= 0.4).astype(int)).all()


def test_the_parquet_holds_the_rows_written(scored: dict, engine, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    with parquet_sink(path) as sink:
        _run(scored, engine, "1", sink)
    written = pd.read_parquet(path)
    assert len(written) == 1000 and list(written.columns) == [
        "customer_id",
        "churn_probability",
        "prediction",
        "model_version",
        "data_version",
        "scored_at",
    ]


def test_a_failure_mid_batch_leaves_the_earlier_rows(scored: dict, engine) -> None:
    _run(scored, engine, "1")

    def broken(chunk: pd.DataFrame) -> None:
        if len(chunk) == 100:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _run(scored, engine, "1", broken)
    rows = pd.read_sql("SELECT count(*) AS n FROM churn_predictions", engine)
    assert int(rows["n"].iloc[0]) == 1000  # rolled back: the earlier run's rows, whole
