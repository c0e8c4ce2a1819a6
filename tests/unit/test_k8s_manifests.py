"""deploy/k8s as far as it can be checked without a cluster: every manifest against the Kubernetes OpenAPI schemas
(kubernetes-validate, offline, strict: an unknown field fails), the kustomization built by kustomize, the CronJobs
and the server calling scripts that exist with arguments those scripts accept, credentials from the Secret only,
the ConfigMap equal to config.yaml, and the Dockerfile's targets and sources."""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES = "1.30.0"  # the oldest minor still supported by its upstream when this was written
CREDENTIALS = {
    "WAREHOUSE_URL",
    "FEAST_REGISTRY_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_URI",
    "MARQUEZ_API_KEY",
    "GITOPS_USERNAME",
    "GITOPS_TOKEN",
    "ARGOCD_AUTH_TOKEN",
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]
    pod = (
        spec["jobTemplate"]["spec"]["template"]["spec"]
        if doc["kind"] == "CronJob"
        else spec["template"]["spec"]
    )
    return pod["containers"]


@pytest.mark.parametrize(("name", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_manifest_is_valid_against_the_kubernetes_schemas(name: str, doc: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validator_catches_a_wrong_field() -> None:
    import kubernetes_validate

    doc = yaml.safe_load((K8S / "cronjob-uc1-nightly.yaml").read_text())
    doc["spec"]["concurrencyPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError, match=r"concurrencyPolicy|not of type"):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    doc = yaml.safe_load((K8S / "cronjob-uc1-nightly.yaml").read_text())
    doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_kustomize_builds_every_resource_into_the_namespace() -> None:
    kubectl = require_binary(
        "kubectl", "", install="the machine image's kubectl, whose built-in kustomize is used"
    )
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert len(docs) == len(listed) == len(_documents())
    assert all(d["metadata"].get("namespace") == "churn-mlops" for d in docs if d["kind"] != "Namespace")


def _accepts(command: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The script's own main() parses the arguments (execute is stubbed: nothing runs); returns the overrides."""
    assert command[0] == "python", command
    script = ROOT / command[1]
    assert script.is_file(), f"{command[1]} does not exist"
    module = importlib.import_module(".".join(Path(command[1]).with_suffix("").parts))
    seen: list[Any] = []
    stub = lambda name, lock, args, body, **_: seen.append(args) or 0  # noqa: E731
    monkeypatch.setattr(module, "execute", stub, raising=False)  # a script that calls it itself
    monkeypatch.setattr("common.cli.execute", stub)  # ...or through common.pipeline.pipeline_main
    assert module.main(command[2:]) == 0 and seen, f"{command[1]} did not reach execute"
    return seen[0].overrides


@pytest.mark.parametrize(
    "name", ["cronjob-uc1-nightly.yaml", "cronjob-drift-hourly.yaml", "cronjob-run-all-weekly.yaml"]
)
def test_cronjobs_forbid_overlap_and_call_scripts_with_arguments_they_accept(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load((K8S / name).read_text())
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = _containers(doc)
    _accepts(container["command"], monkeypatch)
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/workspace", "/config"} <= mounts and "/config/config.yaml" in container["command"]


def test_the_server_deployment_runs_step_06_in_the_foreground(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load((K8S / "deployment-model-server.yaml").read_text())
    (container,) = _containers(doc)
    assert "--foreground" in container["command"]
    _accepts(container["command"], monkeypatch)
    port = container["ports"][0]["containerPort"]
    assert port == yaml.safe_load((ROOT / "config.yaml").read_text())["serving"]["port"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS__SERVING__HOST"] == "0.0.0.0"  # reachable from the Service, not only from the pod


def test_a_wrong_argument_is_caught_by_the_scripts_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        _accepts(["python", "uc1_churn_prediction/run_pipeline.py", "--no-such-flag"], monkeypatch)


@pytest.mark.parametrize(
    ("name", "doc"), [d for d in _documents() if d[1]["kind"] in ("CronJob", "Deployment")]
)
def test_credentials_come_from_the_secret_only(name: str, doc: dict[str, Any]) -> None:
    for container in _containers(doc):
        env = {e["name"]: e for e in container["env"]}
        assert set(env) >= CREDENTIALS, f"{name} lacks {sorted(CREDENTIALS - set(env))}"
        for key in CREDENTIALS:
            assert "value" not in env[key], f"{name} writes {key} as a value"
            assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "churn-mlops-credentials"


def test_config_yaml_names_no_credential_variable_the_manifests_miss() -> None:
    # the variables the config's values read (comments, with their examples, left out)
    named = set(re.findall(r"\$\{([A-Z_]+)", json.dumps(yaml.safe_load((ROOT / "config.yaml").read_text()))))
    secret_like = {n for n in named if re.search(r"SECRET|TOKEN|PASSWORD|API_KEY|ACCESS_KEY|_URL$|_URI$", n)}
    public = {
        "S3_ENDPOINT_URL",
        "DVC_S3_ENDPOINT_URL",
        "MARQUEZ_URL",
        "PROMETHEUS_URL",
        "PUSHGATEWAY_URL",
        "ARGOCD_URL",
        "GITOPS_REPO_URL",
        "DVC_REMOTE_URL",
    }  # addresses, set in churn-mlops-env
    assert secret_like - public <= CREDENTIALS, sorted(secret_like - public - CREDENTIALS)


def test_the_configmap_is_config_yaml() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("configmap", K8S / "configmap.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "config.yaml").read_text()
    assert (K8S / "configmap.yaml").read_text() == module.render(text), (
        "stale: run python deploy/k8s/configmap.py"
    )
    assert yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]["config.yaml"] == text


def test_the_dockerfile_has_both_targets_and_copies_what_exists() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE)
    assert {"production", "development"} <= set(stages)
    sources = [s for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE) for s in line.split()[:-1]]
    assert sources and all((ROOT / s).exists() for s in sources), [
        s for s in sources if not (ROOT / s).exists()
    ]
    production = text.split("AS production", 1)[1].split("\nFROM ", 1)[0]
    assert "\nCOPY . .\n" in production  # the whole project: a new use-case folder needs no line here
    ignored = [
        line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()
    ]
    assert {"var", ".venv", ".git"} <= set(ignored)  # what a run writes never goes into the image
    for folder in sorted(p.name for p in ROOT.glob("uc[0-9]_*") if p.is_dir()):
        assert not [i for i in ignored if fnmatch.fnmatch(folder, i)], f"the image lacks {folder}"
