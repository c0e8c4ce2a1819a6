"""The deployment repo's files: the InferenceService in the new schema with KServe's defaults written out in
canonical quantities, the base without any version, the overlay's patch, the Argo CD Application; what an overlay
renders to, held to kustomize's own build (kubectl kustomize); config errors naming their key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from common.config import load_config
from common.errors import ConfigError
from common.gitops.layout import Release, application, base_files, merge_patch, overlay_files, render
from common.serving.kserve_deploy import manifest
from common.serving.quantities import canonical
from tests.conftest import require_binary
from tests.unit.test_kserve_manifest import sdk_round_trip

RELEASE = Release(
    model="churn-predictor",
    version="7",
    alias="champion",
    storage_uri="s3://mlops/mlflow/1/models/m-7/artifacts",
    run_id="a1b2c3",
    data_version="data-v3",
)
URL = "https://git.example.com/ml/deploy.git"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("1000m", "1"),
        ("1", "1"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("100m", "100m"),
        ("2048Mi", "2Gi"),
        ("2Gi", "2Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("2000M", "2G"),
    ],
)
def test_quantities_take_the_form_the_api_server_writes_back(written: str, stored: str) -> None:
    assert canonical(written) == stored


def test_the_manifest_is_camel_case_in_the_new_schema_with_the_webhooks_defaults_written_out() -> None:
    cfg = load_config(
        overrides=[
            "serving.resources.requests={cpu: 500m, memory: 1024Mi}",
            "serving.resources.limits={cpu: 1000m, memory: 2048Mi}",
        ],
        environ={},
    )
    body = manifest(cfg, RELEASE.storage_uri, "7")
    assert body["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    predictor = body["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "default" and predictor["automountServiceAccountToken"] is False
    assert predictor["model"] == {
        "name": "kserve-container",
        "modelFormat": {"name": "sklearn"},
        "protocolVersion": "v1",
        "storageUri": RELEASE.storage_uri,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    }
    assert "sklearn" not in predictor  # the old per-framework schema is not written


def test_the_base_holds_no_version_and_the_overlay_patch_holds_the_release() -> None:
    cfg = load_config(environ={})
    base = yaml.safe_load(base_files(cfg, RELEASE)["base/inferenceservice.yaml"])
    text = yaml.safe_dump(base)
    assert (
        "namespace" not in base["metadata"] and "storageUri" not in text and "mlops/model-version" not in text
    )
    files = overlay_files(cfg, RELEASE, "production", URL)
    patch = yaml.safe_load(files["overlays/production/inferenceservice-patch.yaml"])
    assert patch["metadata"]["annotations"] == {
        "mlops/model-version": "7",
        "mlops/alias": "champion",
        "mlops/mlflow-run-id": "a1b2c3",
        "mlops/data-version": "data-v3",
    }
    kustomization = yaml.safe_load(files["overlays/production/kustomization.yaml"])
    assert kustomization["namespace"] == "churn-production" and kustomization["resources"] == ["../../base"]


@pytest.mark.parametrize("mode", ["Serverless", "Standard", "RawDeployment"])
def test_an_overlay_renders_to_the_full_manifest_in_its_namespace(mode: str) -> None:
    cfg = load_config(overrides=[f"serving.deployment_mode={mode}"], environ={})
    files = {**base_files(cfg, RELEASE), **overlay_files(cfg, RELEASE, "staging", URL)}
    rendered = render(files, "staging")
    expected = manifest(cfg, RELEASE.storage_uri, "7", alias="champion")
    expected["metadata"]["namespace"] = "churn-staging"
    expected["metadata"]["annotations"] |= {"mlops/mlflow-run-id": "a1b2c3", "mlops/data-version": "data-v3"}
    assert rendered == expected
    assert sdk_round_trip(rendered).metadata.annotations["serving.kserve.io/deploymentMode"] == mode
    assert "canaryTrafficPercent" not in yaml.safe_dump(files)


def test_in_standard_mode_the_overlay_names_the_predictor_after_the_version_and_the_base_does_not() -> None:
    cfg = load_config(overrides=["serving.deployment_mode=Standard"], environ={})
    base = yaml.safe_load(base_files(cfg, RELEASE)["base/inferenceservice.yaml"])
    assert "name" not in base["spec"]["predictor"]
    patch = yaml.safe_load(
        overlay_files(cfg, RELEASE, "staging", URL)["overlays/staging/inferenceservice-patch.yaml"]
    )
    assert patch["spec"]["predictor"] == {"name": "v7", "model": {"storageUri": RELEASE.storage_uri}}
    serverless = overlay_files(load_config(environ={}), RELEASE, "staging", URL)
    assert (
        "name"
        not in yaml.safe_load(serverless["overlays/staging/inferenceservice-patch.yaml"])["spec"]["predictor"]
    )


@pytest.mark.parametrize("mode", ["Serverless", "Standard"])
def test_kustomize_builds_the_overlay_as_the_reconciler_renders_it(tmp_path: Path, mode: str) -> None:
    kubectl = require_binary(
        "kubectl", "", install="the machine image's kubectl, whose built-in kustomize is used"
    )
    cfg = load_config(overrides=[f"serving.deployment_mode={mode}"], environ={})
    files = {**base_files(cfg, RELEASE), **overlay_files(cfg, RELEASE, "staging", URL)}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    built = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "overlays" / "staging")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert yaml.safe_load(built.stdout) == render(files, "staging")


def test_the_application_syncs_itself_and_diffs_through_the_webhook() -> None:
    cfg = load_config(overrides=["gitops.argocd.namespace=gitops"], environ={})
    app = application(cfg, "staging", URL)
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["metadata"]["name"] == "churn-predictor-staging" and app["metadata"]["namespace"] == "gitops"
    assert app["metadata"]["annotations"] == {
        "argocd.argoproj.io/compare-options": "ServerSideDiff=true,IncludeMutationWebhook=true"
    }
    spec = app["spec"]
    assert spec["source"] == {"repoURL": URL, "targetRevision": "main", "path": "overlays/staging"}
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "churn-staging"}
    assert spec["syncPolicy"] == {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }
    (ignored,) = spec["ignoreDifferences"]
    assert (ignored["group"], ignored["kind"]) == ("serving.kserve.io", "InferenceService")
    assert ignored["jqPathExpressions"] == [
        ".spec.predictor.model.runtime"
    ]  # never resources: a change shows
    other = load_config(overrides=["gitops.argocd.repo_url=ssh://git@git.internal/deploy.git"], environ={})
    assert (
        application(other, "staging", URL)["spec"]["source"]["repoURL"] == "ssh://git@git.internal/deploy.git"
    )


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None, "h": "i"}, "l": [3]}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e", "h": "i"}, "l": [3]}
    assert target["c"] == {"d": "e", "f": "g"}  # the target is left as it was


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("gitops.repo_url=https://bot:s3cret@git.example.com/deploy.git", "gitops.repo_url"),
        ("gitops.repo_url=https://ghp_s3cret@git.example.com/deploy.git", "gitops.repo_url"),
        ("gitops.argocd.url=https://argocd.example.com", "gitops.repo_url"),
        ("gitops.environment=Prod_1", "gitops.environment"),
        ("serving.resources.limits={cpu: lots}", "serving.resources.limits"),
    ],
)
def test_bad_gitops_config_names_the_key(override: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=[override], environ={})
    assert named in str(caught.value) and "s3cret" not in str(caught.value)


def test_an_ssh_user_is_no_secret_and_each_environment_has_its_application_file() -> None:
    cfg = load_config(
        overrides=[
            "gitops.repo_url=ssh://git@git.example.com/ml/deploy.git",
            "gitops.argocd.app=churn-{environment}",
        ],
        environ={},
    )
    staging = overlay_files(cfg, RELEASE, "staging", URL)
    production = overlay_files(cfg, RELEASE, "production", URL)
    assert (
        "argocd/churn-predictor-staging.yaml" in staging
        and "argocd/churn-predictor-production.yaml" in production
    )
    assert (
        yaml.safe_load(production["argocd/churn-predictor-production.yaml"])["metadata"]["name"]
        == "churn-production"
    )
