"""Step 06 as a user runs it: the champion served by a KServe ModelServer on localhost (tests in file order)."""

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_script, serving_port, summary_of
from uc1_churn_prediction.serving import EXAMPLE_CUSTOMER

PIPELINE = "uc1_churn_prediction/run_pipeline.py"
STEP6 = "uc1_churn_prediction/uc1_06_model_serving_kserve.py"
MODEL = "churn-predictor"
CUSTOMER = EXAMPLE_CUSTOMER


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("serving") / "ws"
    proc = run_script(PIPELINE, workspace=ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ws, f"http://127.0.0.1:{serving_port(ws)}"


def _call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


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
    from uc1_churn_prediction.features import build_features, feature_types

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
    mlflow.set_tracking_uri(f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}")
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


def test_deploying_the_served_version_again_is_a_noop(served: tuple[Path, str]) -> None:
    ws, _ = served
    before = json.loads((ws / "serving" / "server.json").read_text())["pid"]
    proc = run_script(STEP6, workspace=ws)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = summary_of(proc)["outputs"]
    assert out["changed"] is False and out["pid"] == before and out["smoke"]["customer_id"] == 1


def test_a_failed_redeploy_serves_the_previous_version_again(served: tuple[Path, str]) -> None:
    import mlflow
    from mlflow import MlflowClient

    ws, base = served
    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    broken = client.create_model_version(MODEL, source=(ws / "no-such-model").as_uri())
    client.set_registered_model_alias(MODEL, "champion", broken.version)
    try:
        proc = run_script(STEP6, workspace=ws)
        assert proc.returncode == 1
        error = summary_of(proc)["error"]
        assert f"version {broken.version} did not become ready" in error and "version 1 serves again" in error
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
