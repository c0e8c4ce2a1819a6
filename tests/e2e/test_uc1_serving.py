"""Step 06 as a user runs it: the champion served by a KServe ModelServer on localhost. The module trains and
serves once; each test finds the server answering with the default settings, whichever test ran before it."""

import http.client
import http.server
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from common.serving.contract import EXAMPLE_CUSTOMER
from tests.conftest import Impostor, Prober, metric_families, run_script, serving_port, summary_of

PIPELINE = "uc1_churn_prediction/run_pipeline.py"
STEP6 = "uc1_churn_prediction/uc1_06_model_serving_kserve.py"
MODEL = "churn-predictor"
CUSTOMER = EXAMPLE_CUSTOMER


@pytest.fixture(scope="module")
def pipeline_served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("serving") / "ws"
    proc = run_script(PIPELINE, workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ws, f"http://127.0.0.1:{serving_port(ws)}"


@pytest.fixture
def served(pipeline_served: tuple[Path, str]) -> tuple[Path, str]:
    """The module's server, answering with the default settings whatever the test before left: a test that
    stops or kills it brings nothing on the next one (one that changes settings puts them back)."""
    ws, base = pipeline_served
    if not _answering(ws, base):
        proc = run_script(STEP6, workspace=ws)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return ws, base


def _answering(ws: Path, base: str) -> bool:
    """The recorded server is the one answering on the port."""
    if not (ws / "serving" / "server.json").exists():
        return False
    try:
        return _call(f"{base}/v1/models/{MODEL}")[1].get("pid") == _server_pid(ws)
    except OSError:
        return False


def _server_pid(ws: Path) -> int:
    return json.loads((ws / "serving" / "server.json").read_text())["pid"]


def _call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_the_server_outlives_the_pipeline_in_an_environment_of_its_own(served: tuple[Path, str]) -> None:
    """The pipeline imported Feast, which points PROMETHEUS_MULTIPROC_DIR at a folder it deletes at exit: the
    detached server must not have inherited it. The pipeline has exited; the server still answers."""
    ws, base = served
    environ = Path(f"/proc/{_server_pid(ws)}/environ").read_bytes().decode().split("\0")
    for key, _, value in (entry.partition("=") for entry in environ):
        if key.upper() in ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR"):
            assert Path(value).is_dir() and Path(value).is_relative_to(ws / "serving"), f"{key}={value}"
    status, _ = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": [{"customer_id": 3}]})
    assert status == 200
    status, _ = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": []})
    assert status == 400
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        assert resp.status == 200 and "request_predict_seconds" in resp.read().decode()


def test_the_server_listens_on_serving_host_only(served: tuple[Path, str]) -> None:
    """serving.host is 127.0.0.1: another address of this machine gets no answer. A listener on every
    interface, started here, is reached at the same addresses, so the probe can tell the two apart."""
    import psutil

    ws, _ = served
    others = ["127.0.0.2"] + [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    for address in others:
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.settimeout(5)
            sock.connect((address, serving_port(ws)))
    with socket.create_connection(("127.0.0.1", serving_port(ws)), timeout=5):
        pass
    with socket.socket() as everywhere:
        everywhere.bind(("0.0.0.0", 0))
        everywhere.listen()
        for address in others:
            socket.create_connection((address, everywhere.getsockname()[1]), timeout=5).close()


def test_v1_predicts_given_fields_and_completes_ids_from_feast(served: tuple[Path, str]) -> None:
    _, base = served
    status, answer = _call(
        f"{base}/v1/models/{MODEL}:predict", {"instances": [CUSTOMER, {"customer_id": 11}]}
    )
    assert status == 200
    first, second = answer["predictions"]
    assert set(first) == {"customer_id", "churn_probability", "prediction", "confidence"}
    assert (first["customer_id"], second["customer_id"]) == (7, 11)
    assert first["confidence"] == pytest.approx(
        max(first["churn_probability"], 1 - first["churn_probability"])
    )


def test_v2_infer_takes_the_columns_as_named_inputs(served: tuple[Path, str]) -> None:
    _, base = served
    inputs = [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
        for k, v in CUSTOMER.items()
    ]
    status, answer = _call(f"{base}/v2/models/{MODEL}/infer", {"inputs": inputs})
    assert status == 200
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    assert outputs["customer_id"] == [7] and outputs["prediction"][0] in (0, 1)
    _, v1 = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": [CUSTOMER]})
    assert outputs["churn_probability"][0] == pytest.approx(
        v1["predictions"][0]["churn_probability"], abs=1e-6
    )


def test_answers_are_the_champions_own_scores_in_request_order(served: tuple[Path, str]) -> None:
    """The server scores with a compiled form of the pipeline: its answers must be the pipeline's, whether
    the features came in the request or from the online store."""
    import mlflow
    import numpy as np
    import pandas as pd

    from common.config import load_config
    from common.features.engineering import build_features, feature_types

    ws, base = served
    raw = pd.read_parquet(ws / "data-registry" / "data" / "customers.parquet").head(8)
    raw.loc[raw.index[2], "income"] = np.nan  # a missing value, imputed by the model
    fields = list(CUSTOMER)
    instances = [
        {"customer_id": int(row.customer_id)}
        if n % 2
        else {
            k: (None if pd.isna(row[k]) else row[k].item() if hasattr(row[k], "item") else row[k])
            for k in fields
        }
        for n, (_, row) in enumerate(raw.iterrows())
    ]
    status, answer = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": instances})
    assert status == 200
    cfg = load_config(environ={})
    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(
        uri
    )  # models:/ reads the registry: never one another test left set in this process
    champion = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    features = build_features(raw, cfg.features, cfg.dataset)[list(feature_types(cfg.features, cfg.dataset))]
    expected = champion.predict_proba(features)[:, 1]
    assert [p["customer_id"] for p in answer["predictions"]] == raw["customer_id"].tolist()
    np.testing.assert_allclose([p["churn_probability"] for p in answer["predictions"]], expected, atol=1e-6)
    with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
        assert json.loads(resp.read())["scorer"] == "compiled"


def test_metadata_shows_the_mlflow_version_and_alias(served: tuple[Path, str]) -> None:
    _, base = served
    for path in (f"/v1/models/{MODEL}", f"/v2/models/{MODEL}"):
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            meta = json.loads(resp.read())
        assert (meta["version"], meta["alias"], meta["model_uri"]) == ("1", "champion", f"models:/{MODEL}/1")
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        assert "request_predict_seconds" in resp.read().decode()


@pytest.mark.parametrize(
    ("body", "raw", "names"),
    [
        (None, b'{"instances": [', "request format"),
        ({"instances": []}, None, "instances: empty"),
        ({"instances": [CUSTOMER] * 1001}, None, "over the limit of 1000"),
        (
            {"instances": [{k: v for k, v in CUSTOMER.items() if k != "age"}]},
            None,
            "instances[0].age: missing",
        ),
        ({"instances": [{**CUSTOMER, "income": "rich"}]}, None, "instances[0].income: expected a number"),
        ({"instances": [{**CUSTOMER, "contract": 2}]}, None, "instances[0].contract: expected a string"),
        (
            {"instances": [{"customer_id": 987654321}]},
            None,
            "instances[0].customer_id: unknown customer 987654321",
        ),
        ({"instances": [{"customer_id": "seven"}]}, None, "instances[0].customer_id: expected an integer"),
        ({"rows": [CUSTOMER]}, None, "body: expected a JSON object"),
        (
            {"instances": [{**CUSTOMER, "age": -5}]},
            None,
            "instances[0].age: -5 is out of range: allowed 18 to 100",
        ),
        ({"instances": [{**CUSTOMER, "age": 1e9}]}, None, "instances[0].age: 1000000000.0 is out of range"),
        (
            {"instances": [CUSTOMER, {**CUSTOMER, "gender": "Zz"}]},
            None,
            "instances[1].gender: 'Zz' is not an allowed value: one of ['Female', 'Male', 'Other']",
        ),
        (None, b"[" + b" " * (20 << 20) + b"]", "body: 20971522 bytes, over the limit of 1048576 bytes"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    served: tuple[Path, str], body: Any, raw: bytes | None, names: str
) -> None:
    _, base = served
    status, answer = _call(f"{base}/v1/models/{MODEL}:predict", body, raw)
    assert 400 <= status < 500, answer
    assert names in answer["error"]
    with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=10) as resp:
        assert resp.status == 200  # still serving


def test_a_chunked_body_over_the_limit_gets_a_413_and_one_within_is_scored(served: tuple[Path, str]) -> None:
    """Without a Content-Length the server counts what arrives."""
    _, base = served
    host, port = base.removeprefix("http://").split(":")
    small = json.dumps({"instances": [CUSTOMER]}).encode()
    for chunks, expected in (([small[:10], small[10:]], 200), ([b"[" + b" " * (1 << 20)] * 3, 413)):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request(
            "POST", f"/v1/models/{MODEL}:predict", iter(chunks), {"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert resp.status == expected, answer
    assert "body: sent chunked, over the limit of 1048576 bytes (serving.max_body_bytes)" in answer["error"]


def test_v2_values_out_of_range_are_refused_too(served: tuple[Path, str]) -> None:
    _, base = served
    inputs = [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
        for k, v in {**CUSTOMER, "region": "Atlantis"}.items()
    ]
    status, answer = _call(f"{base}/v2/models/{MODEL}/infer", {"inputs": inputs})
    assert status == 400 and "instances[0].region: 'Atlantis' is not an allowed value" in answer["error"]


def test_another_server_on_the_port_stops_step_06_and_nothing_is_recorded(
    served: tuple[Path, str], impostor: Impostor
) -> None:
    """The impostor answers readiness polls: step 06 must not take its answers for its own server's."""
    ws, base = served
    recorded = json.loads((ws / "state" / "steps.json").read_text())["uc1_06_model_serving_kserve"]
    server_json = (ws / "serving" / "server.json").read_text()
    impostor.answer.update(version="1", pid=1)  # what a server from a deleted workspace would say
    proc = run_script(STEP6, workspace=ws, env={"MLOPS__SERVING__PORT": str(impostor.port)})
    assert proc.returncode == 1, proc.stderr[-2000:]
    error = summary_of(proc)["error"]
    assert f"port {impostor.port} on 127.0.0.1 is in use by pid {os.getpid()} (" in error
    assert "nothing was started" in error
    assert json.loads((ws / "state" / "steps.json").read_text())["uc1_06_model_serving_kserve"] == recorded
    assert (ws / "serving" / "server.json").read_text() == server_json  # the served version is untouched
    status, _ = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": [CUSTOMER]})
    assert status == 200


def test_deploying_the_served_version_again_is_a_noop(served: tuple[Path, str]) -> None:
    ws, _ = served
    before = json.loads((ws / "serving" / "server.json").read_text())["pid"]
    proc = run_script(STEP6, workspace=ws)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = summary_of(proc)["outputs"]
    assert out["changed"] is False and out["pid"] == before and out["smoke"]["customer_id"] == 1


def test_a_new_champion_is_served_in_place_without_a_refused_connection(served: tuple[Path, str]) -> None:
    """Step 06 switches the running server to a new version (and back): the same process, no gap."""
    import mlflow
    from mlflow import MlflowClient

    ws, base = served
    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    v1 = client.get_model_version(MODEL, "1")
    new = client.create_model_version(MODEL, v1.source, run_id=v1.run_id, tags=v1.tags)
    before = _server_pid(ws)
    try:
        with Prober(base) as probe:
            client.set_registered_model_alias(MODEL, "champion", new.version)
            there = run_script(STEP6, workspace=ws)
            client.set_registered_model_alias(MODEL, "champion", "1")
            back = run_script(STEP6, workspace=ws)
        assert there.returncode == 0 and back.returncode == 0, (there.stderr[-2000:], back.stderr[-2000:])
        assert (
            summary_of(there)["outputs"]["changed"] is True and summary_of(there)["outputs"]["pid"] == before
        )
        probe.assert_no_outage()
        assert probe.versions == {"1", str(new.version)}, probe.versions
        assert _server_pid(ws) == before
    finally:
        client.set_registered_model_alias(MODEL, "champion", "1")


def test_a_version_that_fails_to_load_never_takes_traffic_and_is_not_tried_again(
    served: tuple[Path, str],
) -> None:
    import mlflow
    from mlflow import MlflowClient

    ws, base = served
    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    broken = client.create_model_version(MODEL, source=(ws / "no-such-model").as_uri())
    client.set_registered_model_alias(MODEL, "champion", broken.version)
    before = _server_pid(ws)
    try:
        with Prober(base) as probe:
            proc = run_script(STEP6, workspace=ws)
        probe.assert_no_outage()  # the champion answered all along
        assert proc.returncode == 1
        error = summary_of(proc)["error"]
        assert f"version {broken.version} failed to load" in error and "never took traffic" in error, error
        assert "version 1 answers on" in error and _server_pid(ws) == before, error  # never stopped
        tag = client.get_model_version(MODEL, broken.version).tags.get("serving.load_failed")
        assert tag and "No such artifact" in json.loads(tag)["error"], tag
        again = run_script(STEP6, workspace=ws)  # tagged: not tried again while its artifacts are unchanged
        assert again.returncode == 1 and "not tried again" in summary_of(again)["error"], again.stdout
        with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
            assert json.loads(resp.read())["version"] == "1"
        status, _ = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": [CUSTOMER]})
        assert status == 200
    finally:
        client.set_registered_model_alias(MODEL, "champion", "1")


def test_stop_frees_the_port(served: tuple[Path, str]) -> None:
    ws, _ = served
    proc = run_script(STEP6, "--stop", workspace=ws)
    assert proc.returncode == 0 and summary_of(proc)["stopped"] == "1"
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", serving_port(ws)))
    with socket.socket() as sock:  # as a new server would bind: only a listening socket is in the way
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", serving_port(ws)))
    assert not (ws / "serving" / "server.json").exists()


def test_a_server_orphaned_by_a_kill_is_stopped_or_adopted(served: tuple[Path, str]) -> None:
    """A kill between the server's start and its record (server.json) leaves it running unrecorded: --stop
    still stops it, and a rerun adopts it (no second start, no "another server" error)."""
    ws, base = served
    assert run_script(STEP6, "--stop", workspace=ws).returncode == 0  # the kill needs a start to interrupt
    kill = {"MLOPS_KILL_AT": "local_server.started"}
    for then in ("--stop", None):
        killed = run_script(STEP6, workspace=ws, env=kill)
        assert killed.returncode == -9 and not (ws / "serving" / "server.json").exists(), killed.stderr[
            -2000:
        ]
        orphan = _call(f"{base}/v1/models/{MODEL}")[1]["pid"]
        if then == "--stop":
            stopped = run_script(STEP6, "--stop", workspace=ws)
            assert stopped.returncode == 0 and summary_of(stopped)["stopped"] == "1", stopped.stderr[-2000:]
            with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
                sock.connect(("127.0.0.1", serving_port(ws)))
        else:
            rerun = run_script(STEP6, workspace=ws)
            assert rerun.returncode == 0, rerun.stderr[-2000:]
            assert "adopted the model server" in rerun.stderr
            assert summary_of(rerun)["outputs"]["pid"] == orphan == _server_pid(ws)
    assert run_script(STEP6, "--stop", workspace=ws).returncode == 0


def test_a_new_start_after_stop_serves_with_its_own_settings(served: tuple[Path, str]) -> None:
    """After --stop, step 06 starts a new server; under serving.out_of_range accept it scores a value outside
    the declared limits and counts it per field."""
    ws, base = served
    assert run_script(STEP6, "--stop", workspace=ws).returncode == 0
    try:
        _accepting_server_counts_out_of_range_values(ws, base)
    finally:  # the default settings back, for whichever test comes next
        assert run_script(STEP6, workspace=ws).returncode == 0


def _accepting_server_counts_out_of_range_values(ws: Path, base: str) -> None:
    proc = run_script(STEP6, workspace=ws, env={"MLOPS__SERVING__OUT_OF_RANGE": "accept"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = summary_of(proc)["outputs"]
    assert out["changed"] is True and out["pid"] == _server_pid(ws)
    with urllib.request.urlopen(f"{base}/v1/models/{MODEL}", timeout=10) as resp:
        assert json.loads(resp.read())["pid"] == out["pid"]
    odd = {**CUSTOMER, "age": 1e9, "gender": "Zz"}
    status, answer = _call(f"{base}/v1/models/{MODEL}:predict", {"instances": [odd, odd, CUSTOMER]})
    assert status == 200 and len(answer["predictions"]) == 3
    families = metric_families(base)
    counted = {
        s.labels["field"]: s.value
        for s in families["mlops_serving_out_of_range_values"].samples
        if s.name.endswith("_total")
    }
    assert counted == {"age": 2.0, "gender": 2.0}
