"""Write deploy/k8s/configmap.yaml: the project's config.yaml as the ConfigMap the jobs mount at /config. Run after
changing config.yaml (a test says when it is stale): python deploy/k8s/configmap.py"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).with_name("configmap.yaml")


def render(config_text: str) -> str:
    """The ConfigMap holding `config_text` as its config.yaml, verbatim (comments and ${VAR} included)."""

    class Literal(str):
        pass

    yaml.SafeDumper.add_representer(
        Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    )
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "churn-mlops-config", "labels": {"app.kubernetes.io/part-of": "churn-mlops"}},
        "data": {"config.yaml": Literal(config_text)},
    }
    head = (
        "# Generated from config.yaml by deploy/k8s/configmap.py: edit config.yaml, then run that script.\n"
    )
    return head + yaml.safe_dump(body, sort_keys=False, width=1000)


def main() -> None:
    TARGET.write_text(render((ROOT / "config.yaml").read_text()))


if __name__ == "__main__":
    main()
