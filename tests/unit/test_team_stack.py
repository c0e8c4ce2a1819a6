"""The team stack's files, offline: deploy/compose/compose.yaml against the Compose Specification's JSON schema,
the services and mounts it promises, examples/team.yaml putting every component on its real service with no
secret in the file, and the same ports for deploy/team/stack.py and compose."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from common.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
SCHEMA = ROOT / "tests" / "schemas" / "compose_spec" / "compose-spec.json"


def _errors(document: dict[str, Any]) -> list[str]:
    from jsonschema import Draft7Validator

    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _stack() -> Any:
    spec = importlib.util.spec_from_file_location("team_stack", ROOT / "deploy" / "team" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["team_stack"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_compose_file_is_valid_compose() -> None:
    assert _errors(yaml.safe_load(COMPOSE.read_text())) == []


def test_the_schema_check_can_fail_and_names_the_place() -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["mlflow"]["restart_policy"] = "always"  # a key Compose does not have
    broken["services"]["redis"]["ports"] = "6379"  # a list, not a string
    found = _errors(broken)
    assert any(e.startswith("services/mlflow") and "restart_policy" in e for e in found), found
    assert any(e.startswith("services/redis/ports") for e in found), found


def test_compose_runs_every_service_of_the_team_stack_with_its_files() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    wanted = {
        "postgres",
        "redis",
        "minio",
        "mlflow",
        "pushgateway",
        "prometheus",
        "grafana",
        "marquez",
        "marquez-web",
    }
    assert wanted <= set(services)
    for name, service in services.items():  # every file a service mounts is in the repo
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
    assert (COMPOSE.parent / "../monitoring/grafana/dashboards/churn-mlops.json").is_file()


def test_stack_py_and_compose_publish_the_same_ports() -> None:
    stack = _stack()
    published = {
        name: {int(p.split(":", 1)[0]) for p in service.get("ports", [])}
        for name, service in yaml.safe_load(COMPOSE.read_text())["services"].items()
    }
    same = {"minio": "s3", "mlflow": "mlflow", "pushgateway": "pushgateway", "prometheus": "prometheus"}
    same |= {"marquez": "lineage", "git": "git"}
    for service, name in same.items():
        assert stack.PORTS[name] in published[service], (service, name)


def test_the_team_config_puts_every_component_on_its_real_service() -> None:
    stack = _stack().Stack.from_env({})
    cfg = load_config(ROOT / "examples" / "team.yaml", environ=stack.environment())
    assert cfg.warehouse.url.startswith("postgresql+psycopg://")
    assert (cfg.object_store.backend, cfg.object_store.bucket) == ("s3", "team")
    assert cfg.dvc.remote_url == "s3://team/dvc" and cfg.mlflow.tracking_uri.startswith("http://")
    assert (
        cfg.features.registry_url.startswith("postgresql+psycopg://") and cfg.features.online_store == "redis"
    )
    assert cfg.monitoring.pushgateway_url and cfg.drift.pushgateway_url and cfg.ab_testing.prometheus_url
    assert cfg.lineage.backend == "http" and cfg.gitops.repo_url.startswith("git://")
    assert cfg.object_store.secret_access_key.get_secret_value() == "team-secret"  # from the environment


def _secret_values(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(key, value) of every credential-like key in a YAML tree, as the file writes it (not interpolated)."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _secret_values(value, f"{path}.{key}")]
    secret = any(
        word in path.rsplit(".", 1)[-1] for word in ("secret", "key_id", "api_key", "password", "token")
    )
    return [(path, str(node))] if secret else []


def test_no_secret_is_written_in_the_team_config() -> None:
    """Every credential is a ${VARIABLE}: the file is safe to commit."""
    secrets = _secret_values(yaml.safe_load((ROOT / "examples" / "team.yaml").read_text()))
    assert len(secrets) >= 5, secrets  # the object store's, DVC's and the lineage key at least
    assert all(value.startswith("${") and value.endswith(":-}") for _, value in secrets), secrets
