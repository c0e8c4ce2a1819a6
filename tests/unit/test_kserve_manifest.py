from common.config import load_config
from common.serving.kserve_deploy import manifest


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
