"""Shared fixtures: a fresh workspace, real services (PostgreSQL, Redis, moto's S3 server), running scripts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from common.telemetry import disable_telemetry

ROOT = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres"

disable_telemetry()


def require_service(name: str, host: str, port: int) -> None:
    """Skip when the service is down, unless MLOPS_REQUIRE_SERVICES is set (CI): then fail."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} at {host}:{port} is unreachable ({exc})"
        if os.environ.get("MLOPS_REQUIRE_SERVICES"):
            pytest.fail(f"{message} and MLOPS_REQUIRE_SERVICES is set")
        pytest.skip(message)


def require_binary(name: str, package: str, install: str = "") -> str:
    """The path of a program a test runs (a Debian package, unless `install` says where it comes from); skip
    without it, unless MLOPS_REQUIRE_SERVICES: fail."""
    import shutil

    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed ({install or f'apt-get install {package}; .ci/run installs it'})"
        if os.environ.get("MLOPS_REQUIRE_SERVICES"):
            pytest.fail(f"{message} and MLOPS_REQUIRE_SERVICES is set")
        pytest.skip(message)
    return found


@pytest.fixture(autouse=True)
def _mlflow_uris_stay_in_their_test() -> Iterator[None]:
    """mlflow.set_tracking_uri / set_registry_uri are process-wide and exported to the environment: a test that
    points them at its own (then dropped) database must not leave them for the next test."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in names}
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database made for the test and dropped after it."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    from sqlalchemy import create_engine, text

    name = f"test_mlops_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    require_service("moto S3 server", "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the S3 server."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=name)
    return name


def s3_overrides(endpoint: str, bucket: str) -> list[str]:
    return [
        "object_store.backend=s3",
        f"object_store.bucket={bucket}",
        f"object_store.endpoint_url={endpoint}",
        "object_store.access_key_id=test",
        "object_store.secret_access_key=test",
    ]


# Small, fast settings for scripts run end to end: 2,000 customers, two light candidates, 3 folds, and gate floors
# for a 400-row holdout. The seed's own thresholds on the default data are exercised by `make run` and bench/.
E2E_ENV = {
    "MLOPS__RETRY__ATTEMPTS": "2",
    "MLOPS__RETRY__INITIAL_WAIT_S": "0.1",
    "MLOPS__SAMPLE_DATA__ROWS": "2000",
    "MLOPS__TRAINING__CV_FOLDS": "3",
    "MLOPS__TRAINING__CANDIDATES": "[{name: logistic_regression, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {max_iter: 500}}, {name: random_forest, estimator: sklearn.ensemble.RandomForestClassifier, "
    "params: {n_estimators: 40, max_depth: 8, random_state: 0}}]",
    "MLOPS__TRAINING__GATE__THRESHOLDS": "{accuracy: 0.7, precision: 0.6, recall: 0.6, f1: 0.6, roc_auc: 0.75}",
}


def run_script(
    script: str,
    *args: str,
    workspace: Path,
    env: dict[str, str] | None = None,
    timeout: int = 600,
    fast: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a project script as a user does, from the repo root, in `workspace`, with the workspace's own serving
    port and (`fast`) small fast settings; fast=False runs the config as it is."""
    port = {"MLOPS__SERVING__PORT": str(serving_port(workspace))}
    # mlflow.set_tracking_uri() in a test exports MLFLOW_TRACKING_URI, which config.yaml reads: never inherit it
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    }
    settings = E2E_ENV if fast else {}
    full_env = {**inherited, "MLOPS_WORKSPACE": str(workspace), **settings, **port, **(env or {})}
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


_PORTS: dict[Path, int] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving_port(workspace: Path) -> int:
    """One model-server port per workspace, so test workspaces never share a server."""
    return _PORTS.setdefault(workspace, free_port())


@pytest.fixture(scope="session", autouse=True)
def _stop_model_servers() -> Iterator[None]:
    """Every model server a test started is stopped at the end (they are detached from the step)."""
    yield
    from common.serving import local_server
    from common.workspace import Workspace

    served = [Workspace(ws) for ws in _PORTS if (ws / "serving").exists()]
    with ThreadPoolExecutor(8) as pool:  # each stop waits for its server's shutdown: wait for all at once
        list(pool.map(local_server.stop, served))


class Impostor:
    """A plain HTTP server on a loopback port that says it is a ready model server (`answer`) and answers 200
    to anything: what a server left from another workspace looks like to a readiness poll."""

    def __init__(self) -> None:
        import http.server

        self.answer: dict[str, object] = {"ready": True}
        impostor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(impostor.answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus Pushgateway on a loopback port."""
    import time
    import urllib.request

    binary = require_binary("prometheus-pushgateway", "prometheus-pushgateway")
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [binary, f"--web.listen-address={url.removeprefix('http://')}"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "pushgateway.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def impostor() -> Iterator[Impostor]:
    import threading

    fake = Impostor()
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def summary_of(proc: subprocess.CompletedProcess[str]) -> dict:
    """The one-line JSON summary a script prints last on stdout."""
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no summary on stdout; stderr:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def metric_families(base: str) -> dict[str, object]:
    """A model server's /metrics, parsed with prometheus_client's parser, by family name."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        return {f.name: f for f in text_string_to_metric_families(resp.read().decode())}


class Prober:
    """A client that calls the predict endpoint `rate` times a second from a thread while a block runs, as
    users do during a model switch; it counts refused connections, non-2xx answers and other failures."""

    def __init__(self, base: str, model: str = "churn-predictor", rate: float = 25) -> None:
        import threading

        self.url, self.period = f"{base}/v1/models/{model}:predict", 1 / rate
        self.answered, self.refused, self.failed = 0, 0, []  # type: ignore[var-annotated]
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import time

        customer = 0
        while not self._stop.is_set():
            started = time.monotonic()
            customer = customer % 500 + 1
            self._call(customer)
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def _call(self, customer: int) -> None:
        import urllib.error
        import urllib.request

        body = json.dumps({"instances": [{"customer_id": customer}]}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                resp.read()
                self.answered += 1
                self.versions.add(resp.headers.get("x-model-version", ""))
        except urllib.error.HTTPError as err:
            self.failed.append(f"HTTP {err.code}: {err.read()[:200]!r}")
        except urllib.error.URLError as err:
            if isinstance(err.reason, ConnectionRefusedError):
                self.refused += 1
            else:
                self.failed.append(repr(err.reason))
        except OSError as err:  # a reset or a timeout
            self.failed.append(repr(err))

    def assert_no_outage(self, min_answers: int = 20) -> None:
        """No connection refused, no failed answer, and the probe really ran."""
        assert (self.refused, self.failed[:5]) == (0, []), (self.refused, self.failed[:5], self.answered)
        assert self.answered >= min_answers, self.answered


# The longest modules first: pytest-xdist's loadscope hands out modules in collection order, so a long module
# collected last (tests/e2e/test_uc3_drift.py sorts after the short ones) leaves one core working alone at the end.
# Seconds each module took on a 2-core VM (2026-12-04); only their order matters, and a module not listed keeps its
# place after them.
MODULE_SECONDS = {
    "tests/e2e/test_team_stack.py": 170,
    "tests/e2e/test_every_script.py": 170,
    "tests/e2e/test_uc3_drift.py": 130,
    "tests/e2e/test_lifecycle_story.py": 120,
    "tests/e2e/test_uc6_gitops.py": 110,
    "tests/e2e/test_uc1_training.py": 100,
    "tests/e2e/test_uc1_serving.py": 95,
    "tests/e2e/test_uc5_fairness_card.py": 100,  # with test_lineage_emission.py: one scope, one run_all
    "tests/e2e/test_uc2_split.py": 80,
    "tests/e2e/test_uc1_any_table.py": 60,
    "tests/e2e/test_lineage_emission.py": 100,
    "tests/e2e/test_new_use_case.py": 45,
    "tests/e2e/test_uc1_cli.py": 40,
    "tests/e2e/test_your_own_config.py": 35,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (a stable sort: the tests of a module keep their order)."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.nodeid.split("::")[0], 0))


# Modules that read one session-scoped workspace (tests/e2e/conftest.py) go to one xdist worker as one scope, so
# the workspace is made once, not once per worker that happens to get one of them.
SHARED_SCOPES = {
    "tests/e2e/test_lineage_emission.py": "run_all_ws",
    "tests/e2e/test_uc5_fairness_card.py": "run_all_ws",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under --dist loadscope (pyproject's), xdist's own scheduler with the modules of SHARED_SCOPES grouped;
    any other --dist is xdist's as it is."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SHARED_SCOPES.get(nodeid.split("::")[0]) or super()._split_scope(nodeid)

    return SharedScopes(config, log)
