"""deploy/monitoring/: the scrape config passes promtool, the dashboard JSON is what dashboard.py writes, and the
provisioning files name the dashboard's datasource and folder. Its PromQL runs against a real Prometheus in
tests/e2e/test_lifecycle_story.py."""

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType

import yaml

from tests.conftest import ROOT, require_binary

MONITORING = ROOT / "deploy" / "monitoring"


def dashboard_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard", MONITORING / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scrape_config_passes_promtool() -> None:
    promtool = require_binary("promtool", "prometheus")
    proc = subprocess.run(
        [promtool, "check", "config", str(MONITORING / "prometheus.yml")], capture_output=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = {
        j["job_name"] for j in yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert jobs == {"model-server", "pushgateway", "node-textfile"}


def test_a_broken_scrape_config_fails_promtool(tmp_path: Path) -> None:
    """promtool is a real check here: an unknown field is refused."""
    promtool = require_binary("promtool", "prometheus")
    broken = tmp_path / "prometheus.yml"
    broken.write_text((MONITORING / "prometheus.yml").read_text().replace("honor_labels", "honour_labels"))
    proc = subprocess.run([promtool, "check", "config", str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0 and "honour_labels" in proc.stdout + proc.stderr


def test_the_dashboard_is_current_and_every_panel_queries_the_provisioned_datasource() -> None:
    module = dashboard_module()
    path = MONITORING / "grafana" / "dashboards" / "churn-mlops.json"
    assert path.read_text() == module.render(), "stale: run python deploy/monitoring/dashboard.py"
    board = json.loads(path.read_text())
    (source,) = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert {p["datasource"]["uid"] for p in board["panels"]} == {source["uid"]}
    titles = " ".join(p["title"] for p in board["panels"])
    for wanted in (
        "by version",
        "Latency p95",
        "Canary split",
        "Drift share",
        "Champion version",
        "Pipeline",
    ):
        assert wanted in titles
    assert len(module.expressions(board)) >= 12
