"""Cluster serving: the InferenceService of a registered version, built with the kserve SDK's model classes,
written to the workspace for review, then created or patched with KServeClient and awaited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml

from common.errors import MlopsError
from common.serving.quantities import canonical
from common.settings import Settings
from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
STANDARD = ("Standard", "RawDeployment")  # KServe's current name and its older one, which it still accepts


@dataclass(frozen=True)
class Served:
    """A registered version as the cluster serves it."""

    version: str
    storage_uri: str


def standard_mode(cfg: Settings) -> bool:
    """Standard (RawDeployment, its older name): plain Deployments, canaries as spec.canary entries (KServe
    >= 0.20); else Serverless (Knative): revisions, a canary as canaryTrafficPercent."""
    return cfg.serving.deployment_mode in STANDARD


def predictor_name(version: str) -> str:
    """Standard mode's predictor name, so its Deployment is {isvc}-v<N>-predictor: a promoted canary keeps its
    pods when the stable predictor is renamed to it (KServe's zero-restart promotion)."""
    return f"v{version}"


def manifest(
    cfg: Settings,
    storage_uri: str,
    version: str,
    canary_percent: float | None = None,
    alias: str | None = None,
    stable: Served | None = None,
) -> dict[str, Any]:
    """The camelCase InferenceService of the sklearn model at `storage_uri`, in the predictor.model.modelFormat
    schema with what KServe's webhook would default written out (resources in canonical quantities, the
    deployment mode, the service account and its token mount), so a GitOps diff against the live object stays
    empty (kserve #2232, argo-cd #12463). With `canary_percent` it is the candidate's, in the form the
    deployment mode supports: Serverless, the candidate with canaryTrafficPercent (KServe sends that share to
    the new revision, the rest to the last ready one); Standard, the `stable` version's predictor with the
    candidate as a named spec.canary entry (canaryTrafficPercent is silently ignored there, kserve #5335).
    Without it, the version alone: in Standard mode that promotes a canary of the same version (the stable
    predictor renamed to it) or rolls one back (the entry gone)."""
    from kserve import V1beta1CanarySpec, V1beta1InferenceService, V1beta1InferenceServiceSpec, constants
    from kubernetes import client as k8s

    canary = None
    if canary_percent is None:
        predictor = _predictor(cfg, storage_uri, version)
    elif standard_mode(cfg):
        if stable is None:
            raise ValueError("a canary in Standard mode needs the stable version it runs beside")
        predictor = _predictor(cfg, stable.storage_uri, stable.version)
        canary = [
            V1beta1CanarySpec(
                traffic_percent=round(canary_percent), predictor=_predictor(cfg, storage_uri, version)
            )
        ]
    else:
        predictor = _predictor(cfg, storage_uri, version)
        predictor.canary_traffic_percent = round(canary_percent)
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
        spec=V1beta1InferenceServiceSpec(predictor=predictor, canary=canary),
    )
    return k8s.ApiClient().sanitize_for_serialization(isvc)


def _predictor(cfg: Settings, storage_uri: str, version: str) -> Any:
    """The predictor serving `storage_uri`, named after `version` in Standard mode only (a Serverless one keeps
    KServe's default name, as its manifests always had)."""
    from kserve import V1beta1ModelFormat, V1beta1ModelSpec, V1beta1PredictorSpec
    from kubernetes import client as k8s

    resources = cfg.serving.resources
    return V1beta1PredictorSpec(
        name=predictor_name(version) if standard_mode(cfg) else None,
        service_account_name=cfg.serving.service_account or "default",
        automount_service_account_token=False,
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


def merge_patch_of(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as a JSON merge patch (what KServeClient.patch sends): the canary fields it leaves out set to
    null, so a rollback or promotion removes the live canary instead of keeping it."""
    spec = body["spec"]
    predictor = {"canaryTrafficPercent": None, **spec["predictor"]}
    return {**body, "spec": {"canary": None, **spec, "predictor": predictor}}


def deploy(
    cfg: Settings,
    ws: Workspace,
    storage_uri: str,
    version: str,
    canary_percent: float | None = None,
    stable: Served | None = None,
) -> dict[str, Any]:
    """Write the manifest, create or patch it in the namespace, wait until Ready."""
    from kserve import KServeClient
    from kubernetes.client.rest import ApiException

    body = manifest(cfg, storage_uri, version, canary_percent, stable=stable)
    path = ws.dir("serving") / "inferenceservice.yaml"
    write_text(path, yaml.safe_dump(body, sort_keys=False))
    name, namespace = body["metadata"]["name"], cfg.serving.namespace
    kserve = KServeClient()
    try:
        kserve.get(name, namespace=namespace)
        kserve.patch(name, merge_patch_of(body), namespace=namespace)
    except (ApiException, RuntimeError) as exc:
        if "404" not in str(exc) and "Not Found" not in str(exc):
            raise MlopsError(f"InferenceService {namespace}/{name}: {exc}") from exc
        kserve.create(body, namespace=namespace)
    kserve.wait_isvc_ready(name, namespace=namespace, timeout_seconds=cfg.serving.ready_timeout_s)
    url = kserve.get(name, namespace=namespace).get("status", {}).get("url", "")
    log.info("InferenceService %s/%s ready at %s (manifest %s)", namespace, name, url, path)
    return {"manifest": str(path), "url": url}
