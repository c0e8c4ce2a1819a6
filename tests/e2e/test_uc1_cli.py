"""UC1 and the runners as a user runs them, where they refuse: a step before its input, a broken table, a held
lock, a bad --set (steps 01-05 one by one are in test_uc1_training.py)."""

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine

from common.data.sample_data import generate
from common.errors import EXIT_CONFIG, EXIT_DATA, EXIT_LOCKED
from common.lock import run_lock
from common.usecases import find
from tests.conftest import run_script, summary_of

STEP1 = "uc1_churn_prediction/uc1_01_data_ingestion_postgres.py"
STEP3 = "uc1_churn_prediction/uc1_03_data_validation_ge.py"
PIPELINE = "uc1_churn_prediction/run_pipeline.py"
STEPS = list(find("uc1").steps)


def _warehouse(workspace: Path, df: pd.DataFrame) -> None:
    """Put `df` in the embedded warehouse as the customers table (so no seeding happens)."""
    (workspace / "warehouse").mkdir(exist_ok=True)
    engine = create_engine(f"sqlite:///{workspace / 'warehouse' / 'warehouse.db'}")
    df.to_sql("customers", engine, index=False, if_exists="replace")
    engine.dispose()


def test_a_step_run_before_its_input_exists_says_what_to_run(workspace: Path) -> None:
    proc = run_script(STEP3, workspace=workspace)
    assert proc.returncode == 1
    assert "run uc1_02_data_versioning_dvc.py first" in proc.stderr


def test_corrupted_table_exits_3_naming_each_problem(workspace: Path) -> None:
    df = generate(400, seed=8)
    df["customer_id"] = df["customer_id"].astype("float64")
    df.loc[0, "customer_id"] = None
    df.loc[[1, 2], "customer_id"] = 77.0
    df.loc[3, "age"] = 250.0
    df.loc[4, "gender"] = "Martian"
    _warehouse(workspace, df)
    proc = run_script(PIPELINE, workspace=workspace)
    assert proc.returncode == EXIT_DATA, proc.stderr
    for problem in (
        "customer_id: null in 1 of 400 rows",
        "customer_id: duplicates in 3 of 400 rows, e.g. [77]",
        "age: 1 of 400 rows outside [18.0, 100.0], e.g. [250.0]",
        "e.g. ['Martian']",
    ):
        assert problem in proc.stderr
    steps = summary_of(proc)["steps"]
    assert [s["status"] for s in steps] == ["ok", "ok", "failed"] + ["not run"] * (len(STEPS) - 3)
    assert steps[2]["exit_code"] == EXIT_DATA
    assert (workspace / "reports" / "validation" / "customers_data-v1.json").exists()


def test_missing_column_exits_3_before_anything_is_uploaded(workspace: Path) -> None:
    _warehouse(workspace, generate(300).drop(columns=["contract"]))
    proc = run_script(PIPELINE, workspace=workspace)
    assert proc.returncode == EXIT_DATA
    assert "lacks the configured columns ['contract']" in proc.stderr
    assert [s["status"] for s in summary_of(proc)["steps"]] == ["failed"] + ["not run"] * (len(STEPS) - 1)
    assert list(workspace.glob("objects/**/*.parquet")) == []


def test_a_run_while_another_holds_the_lock_exits_75(workspace: Path) -> None:
    (workspace / "locks").mkdir()
    with run_lock(workspace / "locks", "uc1"):
        for script in (STEP1, PIPELINE):
            proc = run_script(script, workspace=workspace)
            assert proc.returncode == EXIT_LOCKED
            assert "another run holds the uc1 lock" in proc.stderr and "pid " in proc.stderr
    with run_lock(workspace / "locks", "run_all"):
        assert run_script("run_all.py", workspace=workspace).returncode == EXIT_LOCKED
    runs = [json.loads(line) for line in (workspace / "state" / "history.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["name"], r["status"], r["exit_code"]) for r in runs] == [
        ("step", Path(STEP1).stem, "locked", EXIT_LOCKED),
        ("pipeline", "uc1_churn_prediction", "locked", EXIT_LOCKED),  # the name its runs are recorded under
        ("run_all", "run_all", "locked", EXIT_LOCKED),
    ]  # a cron run that never started says why in the history
    assert "another run holds the uc1 lock" in runs[0]["error"]


def test_bad_set_exits_2_naming_the_key(workspace: Path) -> None:
    proc = run_script(PIPELINE, "--set", "warehouse.chunk_rows=lots", workspace=workspace)
    assert proc.returncode == EXIT_CONFIG
    assert "warehouse.chunk_rows" in proc.stderr and "integer" in proc.stderr
    proc = run_script(STEP1, "--set", "objectstore.backend=s3", workspace=workspace)
    assert proc.returncode == EXIT_CONFIG and "objectstore: unknown key" in proc.stderr
    assert not (workspace / "objects").exists()
