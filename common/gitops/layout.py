"""The deployment repo's files, pure: a kustomize base (the InferenceService as config shapes it, with no model
version in it), one overlay per environment (its namespace and the version's storageUri and annotations), and one
Argo CD Application per environment. Also the reverse: the manifest an overlay renders to, as kustomize builds it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from common.serving.kserve_deploy import manifest, predictor_name, standard_mode
from common.settings import Settings

ISVC_FILE = "inferenceservice.yaml"
PATCH_FILE = "inferenceservice-patch.yaml"
KUSTOMIZATION = "kustomization.yaml"
VERSION = "mlops/model-version"
ALIAS = "mlops/alias"
RUN_ID = "mlops/mlflow-run-id"
DATA_VERSION = "mlops/data-version"
# Argo CD: diff through the API server's dry run, mutating webhooks included (KServe's defaults), argo-cd #12463
COMPARE_OPTIONS = "ServerSideDiff=true,IncludeMutationWebhook=true"


@dataclass(frozen=True)
class Release:
    """What is promoted: a registered version and where its artifacts are."""

    model: str
    version: str
    alias: str
    storage_uri: str
    run_id: str
    data_version: str


def base_path(name: str) -> str:
    return f"base/{name}"


def overlay_path(environment: str, name: str = "") -> str:
    return f"overlays/{environment}/{name}".rstrip("/")


def app_path(cfg: Settings, environment: str) -> str:
    """One Application file per environment, whatever the Applications are called."""
    return f"argocd/{cfg.training.registered_model}-{environment}.yaml"


def app_name(cfg: Settings, environment: str) -> str:
    name = cfg.gitops.argocd.app or f"{cfg.training.registered_model}-{{environment}}"
    return name.replace("{environment}", environment)


def base_files(cfg: Settings, release: Release) -> dict[str, str]:
    """base/: the InferenceService without namespace, model version, storageUri or (Standard mode) the predictor's
    name after its version (the overlays add them)."""
    isvc = manifest(cfg, release.storage_uri, release.version, alias=release.alias)
    isvc["metadata"].pop("namespace", None)
    for key in (VERSION, ALIAS):
        isvc["metadata"]["annotations"].pop(key, None)
    isvc["spec"]["predictor"]["model"].pop("storageUri")
    isvc["spec"]["predictor"].pop("name", None)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [ISVC_FILE],
    }
    return {base_path(ISVC_FILE): _yaml(isvc), base_path(KUSTOMIZATION): _yaml(kustomization)}


def overlay_files(cfg: Settings, release: Release, environment: str, repo_url: str) -> dict[str, str]:
    """overlays/<env>/: the base in the environment's namespace, patched with the release; and the Argo CD
    Application of the environment, reading the repo at `repo_url`."""
    predictor: dict[str, Any] = {"model": {"storageUri": release.storage_uri}}
    if standard_mode(
        cfg
    ):  # its Deployment is named after the version, as UC2's canaries and promotions name it
        predictor["name"] = predictor_name(release.version)
    patch = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": release.model,
            "annotations": {
                VERSION: release.version,
                ALIAS: release.alias,
                RUN_ID: release.run_id,
                DATA_VERSION: release.data_version,
            },
        },
        "spec": {"predictor": predictor},
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": cfg.gitops.namespace_of(environment),
        "resources": ["../../base"],
        "patches": [{"path": PATCH_FILE}],
    }
    return {
        overlay_path(environment, PATCH_FILE): _yaml(patch),
        overlay_path(environment, KUSTOMIZATION): _yaml(kustomization),
        app_path(cfg, environment): _yaml(application(cfg, environment, repo_url)),
    }


def application(cfg: Settings, environment: str, repo_url: str) -> dict[str, Any]:
    """The Argo CD Application that keeps the environment's namespace at what its overlay says."""
    argo = cfg.gitops.argocd
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": app_name(cfg, environment),
            "namespace": argo.namespace,
            "annotations": {"argocd.argoproj.io/compare-options": COMPARE_OPTIONS},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": argo.project,
            "source": {
                "repoURL": argo.repo_url or repo_url,
                "targetRevision": cfg.gitops.branch,
                "path": overlay_path(environment),
            },
            "destination": {
                "server": argo.destination_server,
                "namespace": cfg.gitops.namespace_of(environment),
            },
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
            # the fallback where server-side diff is off: the serving runtime KServe picks for the model format.
            # Not resources: written in canonical form they do not differ, and ignoring them would hide a change
            "ignoreDifferences": [
                {
                    "group": "serving.kserve.io",
                    "kind": "InferenceService",
                    "jqPathExpressions": [".spec.predictor.model.runtime"],
                }
            ],
        },
    }


def render(files: dict[str, str], environment: str) -> dict[str, Any]:
    """The InferenceService that `kustomize build overlays/<env>` gives for these files: the base with the
    overlay's namespace, merged with its patch (a JSON merge patch, as kustomize applies one to a custom
    resource)."""
    isvc = yaml.safe_load(files[base_path(ISVC_FILE)])
    overlay = yaml.safe_load(files[overlay_path(environment, KUSTOMIZATION)])
    for patch in overlay.get("patches", []):
        isvc = merge_patch(isvc, yaml.safe_load(files[overlay_path(environment, patch["path"])]))
    isvc["metadata"]["namespace"] = overlay["namespace"]
    return isvc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def release_of(isvc: dict[str, Any]) -> Release:
    """What a rendered InferenceService deploys."""
    notes = isvc["metadata"].get("annotations", {})
    return Release(
        model=isvc["metadata"]["name"],
        version=str(notes.get(VERSION, "")),
        alias=notes.get(ALIAS, ""),
        storage_uri=isvc["spec"]["predictor"]["model"].get("storageUri", ""),
        run_id=notes.get(RUN_ID, ""),
        data_version=notes.get(DATA_VERSION, ""),
    )


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
