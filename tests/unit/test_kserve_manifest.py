import json
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client as k8s

from common.config import load_config
from common.errors import ConfigError
from common.serving.kserve_deploy import Served, manifest, merge_patch_of


def test_inference_service_manifest_is_camel_case_and_points_at_the_version() -> None:
    cfg = load_config(
        overrides=["serving.namespace=ml-prod", "serving.service_account=model-reader"], environ={}
    )
    body = manifest(cfg, "s3://mlops/mlflow/1/models/m-abc/artifacts", "4")
    assert body["apiVersion"] == "serving.kserve.io/v1beta1" and body["kind"] == "InferenceService"
    assert body["metadata"]["name"] == "churn-predictor" and body["metadata"]["namespace"] == "ml-prod"
    assert body["metadata"]["annotations"] == {
        "serving.kserve.io/deploymentMode": "Serverless",
        "mlops/model-version": "4",
        "mlops/alias": "champion",
    }
    predictor = body["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "model-reader"
    assert predictor["model"]["storageUri"] == "s3://mlops/mlflow/1/models/m-abc/artifacts"
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}


def test_no_service_account_means_kubernetes_default_written_out() -> None:
    body = manifest(load_config(environ={}), "s3://b/m", "1")
    assert body["spec"]["predictor"]["serviceAccountName"] == "default"


def test_the_canary_manifest_is_the_candidates_with_its_share() -> None:
    cfg = load_config(overrides=["ab_testing.canary_percent=12.5"], environ={})
    body = manifest(cfg, "s3://b/m/2", "2", cfg.ab_testing.canary_percent)
    predictor = body["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 12 and predictor["model"]["storageUri"] == "s3://b/m/2"
    assert body["metadata"]["annotations"]["mlops/model-version"] == "2"
    assert body["metadata"]["annotations"]["mlops/alias"] == "challenger"
    assert "canaryTrafficPercent" not in manifest(cfg, "s3://b/m/1", "1")["spec"]["predictor"]


def sdk_round_trip(body: dict[str, Any]) -> Any:
    """The manifest read back into the kserve SDK's V1beta1InferenceService, as its client reads an API answer:
    a field the models do not know is dropped, so the round trip differs from the manifest."""
    import kserve.models
    from kserve.api_client import ApiClient
    from kubernetes.client import models as k8s_models

    answer = SimpleNamespace(data=json.dumps(body))
    with pytest.MonkeyPatch.context() as patch:
        # kserve's client looks every type up in kserve.models; V1ObjectMeta and the like are Kubernetes'
        for name in dir(k8s_models):
            if name[:1].isupper() and not hasattr(kserve.models, name):
                patch.setattr(kserve.models, name, getattr(k8s_models, name), raising=False)
        isvc = ApiClient().deserialize(answer, "V1beta1InferenceService")
    assert k8s.ApiClient().sanitize_for_serialization(isvc) == body
    return isvc


def _keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in _keys(v)}
    return set()


STABLE = Served("1", "s3://b/m/1")


@pytest.mark.parametrize("mode", ["Standard", "RawDeployment"])
def test_a_standard_mode_canary_is_a_named_spec_canary_entry_beside_the_stable_predictor(mode: str) -> None:
    from kserve import V1beta1CanarySpec

    cfg = load_config(
        overrides=[f"serving.deployment_mode={mode}", "ab_testing.canary_percent=25"], environ={}
    )
    body = manifest(cfg, "s3://b/m/2", "2", cfg.ab_testing.canary_percent, stable=STABLE)
    assert body["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == mode
    stable, (canary,) = body["spec"]["predictor"], body["spec"]["canary"]
    assert stable["name"] == "v1" and stable["model"]["storageUri"] == "s3://b/m/1"
    assert canary["trafficPercent"] == 25
    assert canary["predictor"]["name"] == "v2" and canary["predictor"]["model"]["storageUri"] == "s3://b/m/2"
    # KServe ignores canaryTrafficPercent in this mode without a word (kserve #5335): it is never written
    assert "canaryTrafficPercent" not in _keys(body)
    isvc = sdk_round_trip(body)
    assert isinstance(isvc.spec.canary[0], V1beta1CanarySpec) and isvc.spec.canary[0].traffic_percent == 25


def test_the_serverless_canary_reads_back_through_the_sdk_without_a_canary_list() -> None:
    cfg = load_config(overrides=["ab_testing.canary_percent=25"], environ={})
    isvc = sdk_round_trip(manifest(cfg, "s3://b/m/2", "2", cfg.ab_testing.canary_percent, stable=STABLE))
    assert isvc.spec.predictor.canary_traffic_percent == 25 and isvc.spec.canary is None
    assert isvc.spec.predictor.name is None  # a Serverless manifest is what it always was


def test_the_standard_canary_equals_the_one_built_from_the_sdks_models() -> None:
    from kserve import V1beta1CanarySpec, V1beta1InferenceServiceSpec

    cfg = load_config(overrides=["serving.deployment_mode=Standard"], environ={})
    body = manifest(cfg, "s3://b/m/2", "2", 10.0, stable=STABLE)
    expected = V1beta1InferenceServiceSpec(
        predictor=sdk_round_trip(manifest(cfg, "s3://b/m/1", "1")).spec.predictor,
        canary=[
            V1beta1CanarySpec(
                traffic_percent=10, predictor=sdk_round_trip(manifest(cfg, "s3://b/m/2", "2")).spec.predictor
            )
        ],
    )
    assert sdk_round_trip(body).spec.to_dict() == expected.to_dict()
    assert [expected.predictor.name, expected.canary[0].predictor.name] == ["v1", "v2"]


def test_promotion_renames_the_stable_predictor_to_the_canary_and_rollback_drops_the_entry() -> None:
    cfg = load_config(overrides=["serving.deployment_mode=Standard"], environ={})
    during = manifest(cfg, "s3://b/m/2", "2", 10.0, stable=STABLE)["spec"]
    promoted = manifest(cfg, "s3://b/m/2", "2")["spec"]  # what UC2's promotion deploys: the winner alone
    rolled_back = manifest(cfg, STABLE.storage_uri, STABLE.version)["spec"]  # the stable version alone
    # KServe keeps the canary's Deployment ({isvc}-v2-predictor) when the stable predictor takes its name
    assert promoted["predictor"] == during["canary"][0]["predictor"] and "canary" not in promoted
    assert rolled_back["predictor"] == during["predictor"] and "canary" not in rolled_back
    # the patch KServeClient sends is a JSON merge patch: a missing key would leave the live canary in place
    patch = merge_patch_of(manifest(cfg, STABLE.storage_uri, STABLE.version))
    assert patch["spec"]["canary"] is None and patch["spec"]["predictor"]["canaryTrafficPercent"] is None
    assert patch["spec"]["predictor"]["model"] == rolled_back["predictor"]["model"]


def test_a_serverless_promotion_patch_clears_canary_traffic_percent() -> None:
    cfg = load_config(environ={})
    patch = merge_patch_of(manifest(cfg, "s3://b/m/2", "2"))
    assert patch["spec"]["predictor"]["canaryTrafficPercent"] is None
    canary = merge_patch_of(manifest(cfg, "s3://b/m/2", "2", 10.0))
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_a_standard_canary_without_the_stable_version_is_refused_naming_it() -> None:
    cfg = load_config(overrides=["serving.deployment_mode=Standard"], environ={})
    with pytest.raises(ValueError, match="stable version"):
        manifest(cfg, "s3://b/m/2", "2", 10.0)


def test_an_unknown_deployment_mode_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"serving\.deployment_mode"):
        load_config(overrides=["serving.deployment_mode=Raw"], environ={})


def test_the_sdk_round_trip_fails_on_a_field_the_models_do_not_know() -> None:
    body = manifest(
        load_config(overrides=["serving.deployment_mode=Standard"], environ={}), "s3://b/m/1", "1"
    )
    body["spec"]["canary"] = [{"trafficPercent": 10, "predictor": {"name": "v2"}, "weight": 10}]
    with pytest.raises(AssertionError):
        sdk_round_trip(body)
