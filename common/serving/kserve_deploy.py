"""Cluster serving: the InferenceService of a registered version, built with the kserve SDK's model classes,
written to the workspace for review, then created or patched with KServeClient and awaited."""

from __future__ import annotations

import logging
from typing import Any

import yaml

from common.errors import MlopsError
from common.serving.quantities import canonical
from common.settings import Settings
from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"


def manifest(
    cfg: Settings,
    storage_uri: str,
    version: str,
    canary_percent: float | None = None,
    alias: str | None = None,
) -> dict[str, Any]:
    """The camelCase InferenceService of the sklearn model at `storage_uri`, in the predictor.model.modelFormat
    schema with what KServe's webhook would default written out (resources in canonical quantities, the
    deployment mode, the service account and its token mount), so a GitOps diff against the live object stays
    empty (kserve #2232, argo-cd #12463). With `canary_percent` it is the candidate's: KServe sends that share to
    the new revision and the rest to the last ready one (the stable version), in Serverless mode only."""
    from kserve import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1ModelFormat,
        V1beta1ModelSpec,
        V1beta1PredictorSpec,
        constants,
    )
    from kubernetes import client as k8s

    resources = cfg.serving.resources
    predictor = V1beta1PredictorSpec(
        service_account_name=cfg.serving.service_account or "default",
        automount_service_account_token=False,
        canary_traffic_percent=None if canary_percent is None else round(canary_percent),
        # the SDK leaves the container name '' (invalid for Kubernetes): KServe's own default
        model=V1beta1ModelSpec(
            name="kserve-container",
            model_format=V1beta1ModelFormat(name="sklearn"),
            protocol_version="v1",
            storage_uri=storage_uri,
            resources=k8s.V1ResourceRequirements(
                requests={k: canonical(v) for k, v in resources.requests.items()},
                limits={k: canonical(v) for k, v in resources.limits.items()},
            ),
        ),
    )
    isvc = V1beta1InferenceService(
        api_version=f"{constants.KSERVE_GROUP}/v1beta1",
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=k8s.V1ObjectMeta(
            name=cfg.training.registered_model,
            namespace=cfg.serving.namespace,
            labels={"app.kubernetes.io/part-of": "churn-mlops"},
            annotations={
                DEPLOYMENT_MODE: cfg.serving.deployment_mode,
                "mlops/model-version": version,
                "mlops/alias": alias
                or (cfg.serving.alias if canary_percent is None else cfg.ab_testing.candidate_alias),
            },
        ),
        spec=V1beta1InferenceServiceSpec(predictor=predictor),
    )
    return k8s.ApiClient().sanitize_for_serialization(isvc)


def deploy(
    cfg: Settings, ws: Workspace, storage_uri: str, version: str, canary_percent: float | None = None
) -> dict[str, Any]:
    """Write the manifest, create or patch it in the namespace, wait until Ready."""
    from kserve import KServeClient
    from kubernetes.client.rest import ApiException

    body = manifest(cfg, storage_uri, version, canary_percent)
    path = ws.dir("serving") / "inferenceservice.yaml"
    write_text(path, yaml.safe_dump(body, sort_keys=False))
    name, namespace = body["metadata"]["name"], cfg.serving.namespace
    kserve = KServeClient()
    try:
        kserve.get(name, namespace=namespace)
        kserve.patch(name, body, namespace=namespace)
    except (ApiException, RuntimeError) as exc:
        if "404" not in str(exc) and "Not Found" not in str(exc):
            raise MlopsError(f"InferenceService {namespace}/{name}: {exc}") from exc
        kserve.create(body, namespace=namespace)
    kserve.wait_isvc_ready(name, namespace=namespace, timeout_seconds=cfg.serving.ready_timeout_s)
    url = kserve.get(name, namespace=namespace).get("status", {}).get("url", "")
    log.info("InferenceService %s/%s ready at %s (manifest %s)", namespace, name, url, path)
    return {"manifest": str(path), "url": url}
