"""Registered versions as the model server needs them: the local server's spec for a version (common.model.version),
and the record of a version that failed to load. Shared by UC1's serving step, UC2's canary and UC6's sync."""

from __future__ import annotations

from typing import Any

from common.features.feast_store import offline_source, repo_config, source_id_type
from common.model.tracking import client_for, tracking_uri
from common.model.version import ModelVersion
from common.redact import without_password
from common.serving.local_server import url_host
from common.serving.log_sinks import PREFIX, spec_of
from common.settings import Settings
from common.workspace import Workspace


def local_endpoint(cfg: Settings) -> str:
    """The local model server's predict URL, as a client on this machine reaches it."""
    host = url_host(cfg.serving.host)
    return f"http://{host}:{cfg.serving.port}/v1/models/{cfg.training.registered_model}:predict"


def server_spec(cfg: Settings, ws: Workspace, target: ModelVersion, alias: str) -> dict[str, Any]:
    """What the local model server process reads (common.serving.server) to serve `target`."""
    return {
        "model_name": cfg.training.registered_model,
        "registered_model": cfg.training.registered_model,
        "version": target.version,
        "alias": alias,
        "model_uri": target.model_uri,
        # the server reads the password from its environment (common.redact.with_password): none in the file
        "tracking_uri": without_password(tracking_uri(cfg, ws)),
        "decision_threshold": target.threshold,
        # the id type the online store holds (auto resolved by step 01): the request contract's
        "dataset": cfg.dataset.model_dump()
        | {"id_type": source_id_type(offline_source(cfg, ws), cfg.dataset)},
        # the SQL registry's password too comes from the server's environment (FEAST_REGISTRY_URL)
        "features": cfg.features.model_dump() | {"registry_url": without_password(cfg.features.registry_url)},
        "repo_config": repo_config(cfg, ws) if cfg.serving.feast_completion else None,
        "max_batch": cfg.serving.max_batch,
        "max_body_bytes": cfg.serving.max_body_bytes,
        "out_of_range": cfg.serving.out_of_range,
        "port": cfg.serving.port,
        "host": cfg.serving.host,
        "inference_log": spec_of(cfg.serving, cfg.object_store, ws.root / PREFIX),
    }


LOAD_FAILED_TAG = "serving.load_failed"  # {"digest": its artifacts when it failed, "error": why}


def artifacts_digest(root: str) -> str:
    """What a version's artifacts are: the sha256 of every file's path and size under its download URI `root`
    (ModelVersion.source; a file store or S3 alike), so a version whose artifacts are written again reads as
    changed."""
    import hashlib

    import mlflow

    digest, folders = hashlib.sha256(root.encode()), [""]
    while folders:
        folder = folders.pop()
        for item in mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/{folder}".rstrip("/")):
            path = f"{folder}/{item.path.rsplit('/', 1)[-1]}".lstrip("/")
            if item.is_dir:
                folders.append(path)
            else:
                digest.update(f"{path}\0{item.file_size}\n".encode())
    return digest.hexdigest()


def mark_load_failed(cfg: Settings, ws: Workspace, version: str, error: str) -> None:
    """Tag a version that did not load, with its artifacts' digest: it is not tried again until they change."""
    import json

    from common.redact import redact

    client = client_for(tracking_uri(cfg, ws))
    source = ModelVersion.require(client, cfg.training.registered_model, version).source
    record = {"digest": artifacts_digest(source), "error": redact(error)[:500]}
    client.set_model_version_tag(cfg.training.registered_model, version, LOAD_FAILED_TAG, json.dumps(record))


def failed_to_load(cfg: Settings, ws: Workspace, target: ModelVersion) -> str | None:
    """Why `target` is not to be tried: it failed to load before and its artifacts are unchanged; else None."""
    import json

    found = target.tags.get(LOAD_FAILED_TAG)
    if not found:
        return None
    record = json.loads(found)
    if record.get("digest") != artifacts_digest(target.source):
        return None  # its artifacts changed since: worth a try
    return (
        f"version {target.version} failed to load before and its artifacts are unchanged, so it is not tried "
        f"again ({record.get('error')}); register it anew, or remove its tag {LOAD_FAILED_TAG}"
    )
