import os
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


def test_a_password_in_prometheus_or_a_tracking_server_url_is_sent_as_basic_auth_not_in_the_address() -> None:
    """urllib takes http://user:password@host for a host with a bad port: before, a Prometheus or an MLflow
    tracking server behind basic auth could not be asked at all."""
    import base64
    import http.server
    import threading

    from common.experiment.readers import read_prometheus
    from common.model.tracking import reach

    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://prom:s%40cret@127.0.0.1:{server.server_port}"
        windows = read_prometheus(url, {"requests": "sum(x)"}, "churn", ["1"])
        reach(url)
    finally:
        server.shutdown()
    assert windows["1"].requests == 0
    basic = f"Basic {base64.b64encode(b'prom:s@cret').decode()}"
    assert [(path.split("?")[0], auth) for path, auth in seen] == [
        ("/api/v1/query", basic),
        ("/health", basic),
    ]


def test_mlflow_is_given_a_tracking_servers_credentials_apart_from_its_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MLflow prints the URI it has ("View run ... at: <uri>") from the training tasks, whose output no filter of
    ours reads: the team stack's story found the password there."""
    import mlflow

    from common.model.tracking import use

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(name, "")  # restored after the test, whatever use() sets
    before = mlflow.get_tracking_uri()
    try:
        given = use("http://team:s%40cret@127.0.0.1:5000")
        assert given == mlflow.get_tracking_uri() == mlflow.get_registry_uri() == "http://127.0.0.1:5000"
        assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == (
            "team",
            "s@cret",
        )
        assert use("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"  # not a server: as it is
    finally:
        mlflow.set_tracking_uri(before)


SECRET_FIELD = ("url", "uri", "host", "endpoint_url", "connection")
NOT_A_URL = {"serving.host", "lineage.endpoint"}  # a bind address; a path on lineage.url


def _fields(model: type, prefix: str = "") -> list[str]:
    from pydantic import BaseModel

    found = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found += _fields(kind, f"{prefix}{name}.")
        else:
            found.append(f"{prefix}{name}")
    return found


def test_every_url_valued_key_goes_through_the_one_list() -> None:
    """A URL key added to the settings without joining URL_KEYS would have its credentials neither refused nor
    masked (before, gitops.argocd.repo_url was missed)."""
    from common.settings import URL_KEYS, Settings

    urlish = [k for k in _fields(Settings) if k.rsplit(".", 1)[-1].endswith(SECRET_FIELD)]
    assert set(urlish) - NOT_A_URL - {"features.redis_connection"} == set(URL_KEYS)


@pytest.mark.parametrize("key", ["gitops.repo_url", "gitops.argocd.repo_url"])
def test_a_committed_or_published_url_refuses_credentials_naming_the_key(key: str) -> None:
    """Before, a token in gitops.argocd.repo_url was committed to the deployment repo in plain text."""
    with pytest.raises(ConfigError, match=rf"{key}.*credential") as err:
        load_config(overrides=[f"{key}=https://bot:TOKEN123@git.example.com/x.git"], environ={})
    assert "TOKEN123" not in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize(
    "override",
    [
        "kubeflow.host=https://user:PW-kfp-77@kfp.example.com",
        "object_store.endpoint_url=http://key:PW-s3-77@127.0.0.1:9000",
        "dvc.remote_url=s3://k:PW-dvc-77@bucket/dvc",
        "mlflow.tracking_uri=postgresql+psycopg://u:PW-mlflow-77@127.0.0.1/m",
        "lineage.url=http://u:PW-lineage-77@127.0.0.1:5000",
        "ab_testing.prometheus_url=http://u:PW-prom-77@127.0.0.1:9090",
        "drift.pushgateway_url=http://u:PW-push-77@127.0.0.1:9091",
        "monitoring.pushgateway_url=http://PW-token-77@127.0.0.1:9091",
        "warehouse.url=postgresql+psycopg://u:PW-wh-77@127.0.0.1/w",
        "features.redis_connection=127.0.0.1:6379,password=PW-redis-77,db=0",
    ],
)
def test_a_credential_in_any_other_url_is_masked_wherever_it_would_be_printed(override: str) -> None:
    from common.redact import redact

    cfg = load_config(overrides=[override], environ={})
    secret = "PW-" + override.split("PW-", 1)[1].split("@", 1)[0].split(",", 1)[0]
    assert secret not in redact(f"a library printed {cfg.model_dump_json()} and {override}")
