from pathlib import Path

import pytest

from common.config import load_config
from common.errors import EXIT_CONFIG, ConfigError
from common.redact import redact

BASE = """
workspace: ${WS:-var}
retry:
  attempts: ${ATTEMPTS:-3}
warehouse:
  url: ${WAREHOUSE_URL:-}
dataset:
  numeric: [age]
  categorical: [gender]
"""


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(BASE)
    return path


def test_project_config_loads_with_the_seed_dataset() -> None:
    cfg = load_config(environ={})
    assert cfg.dataset.columns[:2] == ["customer_id", "event_timestamp"]
    assert cfg.dataset.target == "churn" and "contract" in cfg.dataset.categorical
    assert cfg.dataset.expectations.ranges["age"].max == 100
    assert cfg.object_store.backend == "local" and cfg.warehouse.url == ""


def test_env_interpolation_with_defaults_and_types(cfg_file: Path) -> None:
    cfg = load_config(cfg_file, environ={"WS": "/tmp/elsewhere", "ATTEMPTS": "7"})
    assert cfg.workspace == "/tmp/elsewhere"
    assert cfg.retry.attempts == 7
    assert load_config(cfg_file, environ={}).retry.attempts == 3


def test_missing_env_var_is_an_error_naming_it_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("warehouse:\n  url: postgresql+psycopg://etl:${PGPASSWORD}@db/shop\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert "PGPASSWORD" in str(err.value) and "warehouse.url" in str(err.value)
    assert err.value.exit_code == EXIT_CONFIG


def test_set_and_env_overrides_are_typed_and_set_wins(cfg_file: Path) -> None:
    env = {"MLOPS__RETRY__ATTEMPTS": "5", "MLOPS__WAREHOUSE__CHUNK_ROWS": "123"}
    cfg = load_config(cfg_file, ["retry.attempts=9", "dataset.numeric=[age, income]"], environ=env)
    assert cfg.retry.attempts == 9
    assert cfg.warehouse.chunk_rows == 123
    assert cfg.dataset.numeric == ["age", "income"]


def test_unknown_key_names_the_path_and_the_known_keys(cfg_file: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, ["warehouse.ulr=x"], environ={})
    message = str(err.value)
    assert "warehouse.ulr: unknown key" in message
    assert "url" in message and "chunk_rows" in message


def test_wrong_type_names_the_path_and_what_was_expected(cfg_file: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, ["warehouse.chunk_rows=many"], environ={})
    assert "warehouse.chunk_rows" in str(err.value) and "integer" in str(err.value)
    assert "'many'" in str(err.value)


def test_set_without_equals_is_a_config_error(cfg_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        load_config(cfg_file, ["warehouse.url"], environ={})


def test_expectation_on_an_unknown_column_is_named(cfg_file: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, ["dataset.expectations.ranges.salary.min=0"], environ={})
    assert "salary" in str(err.value) and "ranges" in str(err.value)


def test_password_never_appears_in_config_errors_or_redacted_text(cfg_file: Path) -> None:
    env = {"WAREHOUSE_URL": "postgresql+psycopg://etl:hunter2pw@db/shop"}
    cfg = load_config(cfg_file, environ=env)
    assert "hunter2pw" not in redact(f"could not connect to {cfg.warehouse.url}")
    assert "hunter2pw" not in redact("error: hunter2pw rejected")  # registered as a secret on load
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, ["warehouse.url=[1, 2]"], environ=env)
    assert "warehouse.url" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, ["object_store.secret_access_key=[topsecretvalue]"], environ={})
    assert "topsecretvalue" not in str(err.value) and "object_store.secret_access_key" in str(err.value)
