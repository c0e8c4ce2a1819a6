"""Step 01 against a real PostgreSQL database made for the test."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from common.config import load_config
from common.data.object_store import LocalStore
from common.data.sample_data import generate, load
from common.errors import DataValidationError
from common.workspace import Workspace
from tests.conftest import run_script, summary_of
from uc1_churn_prediction import uc1_01_data_ingestion_postgres as step01

pytestmark = pytest.mark.service


def _cfg(workspace: Path, url: str, *extra: str):
    return load_config(
        overrides=[f"workspace={workspace}", f"warehouse.url={url}", "warehouse.chunk_rows=700", *extra],
        environ={},
    )


def test_extracts_the_whole_table_in_chunks_to_parquet_in_the_store(workspace: Path, pg_url: str) -> None:
    engine = create_engine(pg_url)
    assert load(engine, "customers", 2500, seed=4) == 2500
    engine.dispose()
    cfg = _cfg(workspace, pg_url)
    result = step01.run(cfg, Workspace(workspace))

    assert result.metrics["rows"] == 2500
    local = Path(result.outputs["uri"].removeprefix("file://"))
    assert hashlib.sha256(local.read_bytes()).hexdigest() == result.outputs["sha256"]
    parquet = pq.ParquetFile(local)
    assert parquet.metadata.num_row_groups == 4  # 2500 rows in chunks of 700
    got = parquet.read().to_pandas()
    want = generate(2500, seed=4)[cfg.dataset.columns]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert result.outputs["schema"]["event_timestamp"] == "timestamp[us, tz=UTC]"
    store = LocalStore(workspace / "objects" / "mlops")
    pointer = json.loads(store.get_bytes("raw/customers_latest.json"))
    assert pointer["key"] == result.outputs["key"] and pointer["rows"] == 2500
    assert result.datasets_read == [f"{pg_url}#customers"]


def test_empty_table_is_exit_3_and_nothing_is_uploaded(workspace: Path, pg_url: str) -> None:
    engine = create_engine(pg_url)
    generate(0).to_sql("customers", engine, index=False)
    engine.dispose()
    with pytest.raises(DataValidationError, match="customers is empty"):
        step01.run(_cfg(workspace, pg_url), Workspace(workspace))
    assert LocalStore(workspace / "objects" / "mlops").list() == []


def test_missing_columns_are_named_and_nothing_is_uploaded(workspace: Path, pg_url: str) -> None:
    engine = create_engine(pg_url)
    generate(50).drop(columns=["contract", "income"]).to_sql("customers", engine, index=False)
    engine.dispose()
    with pytest.raises(DataValidationError) as err:
        step01.run(_cfg(workspace, pg_url), Workspace(workspace))
    assert "['income', 'contract']" in str(err.value)
    assert LocalStore(workspace / "objects" / "mlops").list() == []


def test_unreachable_database_is_retried_then_exit_1_without_the_password(workspace: Path) -> None:
    url = "postgresql+psycopg://etl:pw-s3cret-99@127.0.0.1:1/shop"
    proc = run_script(
        "uc1_churn_prediction/uc1_01_data_ingestion_postgres.py",
        "--set",
        f"warehouse.url={url}",
        workspace=workspace,
    )
    assert proc.returncode == 1, proc.stderr
    assert "attempt 1/2 failed with a transient error" in proc.stderr
    assert "giving up after 2 attempts" in proc.stderr
    assert "warehouse postgresql+psycopg://etl:***@127.0.0.1:1/shop is unreachable" in proc.stderr
    assert "Connection refused" in summary_of(proc)["error"]
    assert "pw-s3cret-99" not in proc.stderr + proc.stdout
    assert summary_of(proc)["status"] == "failed"


def test_loader_cli_fills_postgres_only_when_asked(workspace: Path, pg_url: str) -> None:
    proc = run_script(
        "common/data/sample_data.py",
        "--rows",
        "1200",
        "--set",
        f"warehouse.url={pg_url}",
        workspace=workspace,
    )
    assert proc.returncode == 0, proc.stderr
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT customer_id) FROM customers")).one() == (
            1200,
            1200,
        )
    engine.dispose()
