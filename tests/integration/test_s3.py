"""The S3 backend and the DVC S3 remote against moto's S3-compatible server on a loopback port."""

import shutil
from pathlib import Path

import boto3
import pytest

from common.config import load_config
from common.data.object_store import S3Store, make_store
from common.data.registry import DataRegistry, file_md5
from common.data.sample_data import generate
from common.workspace import Workspace
from tests.conftest import s3_overrides
from uc1_churn_prediction import uc1_01_data_ingestion_postgres as step01

pytestmark = pytest.mark.service


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_s3_store_put_list_get_exists(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    store = S3Store(_client(s3_endpoint), s3_bucket, prefix="team/")
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 10_000)
    assert store.put_file(src, "raw/a.parquet") == f"s3://{s3_bucket}/team/raw/a.parquet"
    store.put_bytes(b"{}", "raw/latest.json")
    assert store.list("raw/") == ["raw/a.parquet", "raw/latest.json"]
    assert store.exists("raw/a.parquet") and not store.exists("raw/missing")
    assert store.get_file("raw/a.parquet", tmp_path / "back.bin").read_bytes() == b"x" * 10_000
    assert store.get_bytes("raw/latest.json") == b"{}"
    keys = [o["Key"] for o in _client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == ["team/raw/a.parquet", "team/raw/latest.json"]


def test_extract_uploads_to_s3_by_config(s3_endpoint: str, s3_bucket: str, workspace: Path) -> None:
    cfg = load_config(
        overrides=[f"workspace={workspace}", "sample_data.rows=400", *s3_overrides(s3_endpoint, s3_bucket)],
        environ={},
    )
    result = step01.run(cfg, Workspace(workspace))
    assert result.outputs["uri"] == f"s3://{s3_bucket}/{result.outputs['key']}"
    store = make_store(cfg.object_store, Workspace(workspace))
    assert store.list("raw/") == sorted([result.outputs["key"], "raw/customers_latest.json"])
    assert not (workspace / "objects").exists()


def test_dvc_pushes_to_s3_and_an_old_version_reads_back(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    cfg = load_config(
        overrides=[
            f"dvc.remote_url=s3://{s3_bucket}/dvc",
            f"dvc.endpoint_url={s3_endpoint}",
            "dvc.access_key_id=AKIDLOCALONLY",
            "dvc.secret_access_key=SECRETLOCALONLY",
        ],
        environ={},
    )
    registry = DataRegistry(tmp_path / "data-registry", cfg.dvc, tmp_path / "unused-remote")
    files = {}
    for n, rows in ((1, 300), (2, 500)):
        files[n] = tmp_path / f"v{n}.parquet"
        generate(rows, seed=n).to_parquet(files[n])
        md5 = file_md5(files[n])
        version = registry.commit(
            shutil.copy(files[n], tmp_path / "in.parquet"), "data/customers.parquet", f"{rows} rows"
        )
        assert (version.tag, version.md5, version.created) == (f"data-v{n}", md5, True)

    pushed = [o["Key"] for o in _client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(pushed) == 2 and all(k.startswith("dvc/files/md5/") for k in pushed)
    assert not (tmp_path / "unused-remote").exists()
    dvc_dir = tmp_path / "data-registry" / ".dvc"
    assert "LOCALONLY" not in (dvc_dir / "config").read_text()  # committed config: no keys
    local = dvc_dir / "config.local"
    assert not local.exists() or "LOCALONLY" not in local.read_text()  # nor at rest: given to DVC in memory

    # A fresh clone of the registry has no cache: version 1 comes back from the S3 remote.
    shutil.rmtree(tmp_path / "data-registry" / ".dvc" / "cache")
    (tmp_path / "data-registry" / "data" / "customers.parquet").unlink()
    out = registry.export("data/customers.parquet", "data-v1", tmp_path / "back.parquet")
    assert file_md5(out) == file_md5(files[1])
    # keys an older run wrote to the local config are removed when the registry is opened
    local.write_text("['remote \"storage\"']\n    secret_access_key = SECRETLOCALONLY\n")
    DataRegistry(tmp_path / "data-registry", cfg.dvc, tmp_path / "unused-remote")
    assert "LOCALONLY" not in local.read_text()


def test_the_inference_log_goes_to_the_bucket_and_drift_reads_its_window_back(
    s3_endpoint: str, s3_bucket: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KServe's logger pattern on S3: the server's spec carries no keys (its environment does), the objects
    land under inference-log/date=.../, and UC3's reader fetches the window's days."""
    from datetime import UTC, datetime

    import numpy as np

    from common.drift.current import from_inference_log
    from common.features.engineering import feature_types
    from common.serving.inference_log import schema
    from common.serving.log_sinks import open_log, spec_of

    cfg = load_config(overrides=[f"workspace={workspace}", *s3_overrides(s3_endpoint, s3_bucket)], environ={})
    ws, ds = Workspace(workspace), cfg.dataset
    spec = spec_of(cfg.serving, cfg.object_store, workspace / "inference-log")
    assert "access_key_id" not in spec["object_store"] and "secret_access_key" not in spec["object_store"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")  # what the server process inherits
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    kinds = feature_types(cfg.features, ds)
    log = open_log(spec, schema(ds.id_column, "int", kinds))
    assert log is not None
    customers = generate(300, seed=3)
    columns = {c: customers[c].to_numpy() for c in [ds.id_column, *ds.numeric, *ds.categorical]}
    columns |= {
        name: np.zeros(300) if kind != "string" else np.full(300, "x", object)
        for name, kind in kinds.items()
        if name not in columns
    }
    meta = {"model_name": "churn-predictor", "model_version": "1", "latency_ms": 1.0}
    log.record(columns, np.linspace(0, 1, 300), 0.5, meta)
    log.close()  # its thread writes the rows as it ends
    keys = [o["Key"] for o in _client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith(f"inference-log/date={datetime.now(UTC):%Y-%m-%d}/part-")
    assert not (workspace / "inference-log").exists()
    current = from_inference_log(cfg, ws, datetime.now(UTC))
    assert current.rows == 300 and current.uri == f"s3://{s3_bucket}/inference-log"
    assert sorted(current.frame[ds.id_column]) == sorted(customers[ds.id_column])
