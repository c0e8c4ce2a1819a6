"""Registered versions as the model server needs them: the version behind an alias (its model URI, decision
threshold and artifact location), and the local server's spec for it. Shared by UC1's serving step and UC2's
canary."""

from __future__ import annotations

from typing import Any

from common.features.feast_store import offline_source, repo_config, source_id_type
from common.model.registry import client_for, tracking_uri
from common.serving.local_server import url_host
from common.serving.log_sinks import PREFIX, spec_of
from common.settings import Settings
from common.workspace import Workspace


def by_alias(cfg: Settings, ws: Workspace, alias: str) -> dict[str, Any] | None:
    """The version of the registered model behind `alias`, or None when no version has it."""
    from mlflow.exceptions import MlflowException

    name = cfg.training.registered_model
    client = client_for(tracking_uri(cfg, ws))
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    return {
        "version": str(version.version),
        "model_uri": f"models:/{name}/{version.version}",
        "threshold": float(version.tags.get("decision_threshold", 0.5)),
        "storage_uri": client.get_model_version_download_uri(name, str(version.version)),
        "tags": dict(version.tags or {}),
    }


def local_endpoint(cfg: Settings) -> str:
    """The local model server's predict URL, as a client on this machine reaches it."""
    host = url_host(cfg.serving.host)
    return f"http://{host}:{cfg.serving.port}/v1/models/{cfg.training.registered_model}:predict"


def server_spec(cfg: Settings, ws: Workspace, target: dict[str, Any], alias: str) -> dict[str, Any]:
    """What the local model server process reads (common.serving.server) to serve `target`."""
    return {
        "model_name": cfg.training.registered_model,
        "registered_model": cfg.training.registered_model,
        "version": target["version"],
        "alias": alias,
        "model_uri": target["model_uri"],
        "tracking_uri": tracking_uri(cfg, ws),
        "decision_threshold": target["threshold"],
        # the id type the online store holds (auto resolved by step 01): the request contract's
        "dataset": cfg.dataset.model_dump()
        | {"id_type": source_id_type(offline_source(cfg, ws), cfg.dataset)},
        "features": cfg.features.model_dump(),
        "repo_config": repo_config(cfg, ws) if cfg.serving.feast_completion else None,
        "max_batch": cfg.serving.max_batch,
        "max_body_bytes": cfg.serving.max_body_bytes,
        "out_of_range": cfg.serving.out_of_range,
        "port": cfg.serving.port,
        "host": cfg.serving.host,
        "inference_log": spec_of(cfg.serving, cfg.object_store, ws.root / PREFIX),
    }
