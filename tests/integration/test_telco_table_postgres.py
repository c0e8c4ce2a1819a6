"""The example customers table (text ids, Yes/No labels, blanks in a text number column, mixed-case names, a
space in a name, no timestamp), loaded by its generator into a fresh PostgreSQL database and extracted by step 01
through each PostgreSQL driver URL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, inspect, text

from common.config import load_config
from common.data.schema import parsing_report
from common.workspace import Workspace
from tests.conftest import ROOT, run_script, summary_of
from uc1_churn_prediction import uc1_01_data_ingestion_postgres as step01

pytestmark = pytest.mark.service
CONFIG = str(ROOT / "examples" / "telco_churn.yaml")
TABLE = "Telco Customers"  # mixed case and a space: quoted in every statement


@pytest.fixture
def telco_db(pg_url: str, workspace: Path) -> str:
    """The example table, written by the project's generator as a user runs it."""
    done = run_script(
        "examples/telco_customers.py",
        "--config",
        CONFIG,
        "--set",
        f"warehouse.url={pg_url}",
        "--set",
        f"dataset.table={TABLE}",
        workspace=workspace,
    )
    assert done.returncode == 0, done.stderr
    assert summary_of(done)["rows"] == 2000
    return pg_url


def test_the_generator_writes_the_table_as_the_public_one_ships(telco_db: str) -> None:
    engine = create_engine(telco_db)
    try:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns(TABLE)}
        with engine.connect() as conn:
            blanks = conn.execute(
                text(f'SELECT count(*) FROM "{TABLE}" WHERE trim("TotalCharges") = \'\'')
            ).scalar()
            labels = conn.execute(text(f'SELECT DISTINCT "Churn" FROM "{TABLE}" ORDER BY 1')).scalars().all()
    finally:
        engine.dispose()
    assert {"customerID", "MonthlyCharges", "SeniorCitizen", "Payment Method"} <= set(columns)
    assert "timestamp" not in " ".join(columns).lower()
    assert str(columns["customerID"]) == "TEXT" and str(columns["TotalCharges"]) == "TEXT"
    assert 0 < blanks < 40 and labels == ["No", "Yes"]


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2"])
def test_step_01_extracts_it_through_each_driver_url(telco_db: str, tmp_path: Path, driver: str) -> None:
    url = driver + telco_db[telco_db.index("://") :]
    cfg = load_config(
        CONFIG,
        overrides=[f"workspace={tmp_path}", f"warehouse.url={url}", f"dataset.table={TABLE}"],
        environ={},
    )
    result = step01.run(cfg, Workspace(tmp_path))

    assert result.outputs["uri"].endswith("/Telco%20Customers_" + result.outputs["key"].split("_")[-1])
    table = pq.read_table(tmp_path / "objects" / "mlops" / result.outputs["key"])
    assert result.metrics["rows"] == table.num_rows == 2000
    assert table.schema.names == cfg.dataset.columns  # mixed case and the space kept
    assert table.schema.field("customerID").type == pa.string() and result.outputs["id_type"] == "str"
    ids = table.column("customerID").to_pylist()
    assert all(len(i) == 10 and i[4] == "-" for i in ids) and ids == sorted(ids)
    assert set(table.column("Churn").to_pylist()) == {0, 1}
    parsing = result.outputs["parsing"]
    blanks = parsing["TotalCharges"]["blank_to_null"]
    assert blanks > 0 and table.column("TotalCharges").null_count == blanks
    assert parsing["Churn"]["to_1"] + parsing["Churn"]["to_0"] == 2000
    assert len(set(table.column("extracted_at").to_pylist())) == 1  # every row stamped with the extraction
    recorded = parsing_report(tmp_path / "objects" / "mlops" / result.outputs["key"])
    assert recorded["TotalCharges"] == parsing["TotalCharges"]  # travels with the file (and its DVC version)
