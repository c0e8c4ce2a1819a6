"""ModelVersion, the one way a step reads a registered version: found by number or alias in a real MLflow registry
(SQLite), None when absent, and one error naming what to run when it is required."""

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from common.errors import MissingInputError
from common.model.version import ModelVersion

NAME = "churn-predictor"


@pytest.fixture
def client(tmp_path: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(NAME)
    (tmp_path / "model").mkdir()
    tags = {
        "data_tag": "data-v3",
        "decision_threshold": "0.37",
        "gate.passed": "true",
        "gate.promoted": "false",
        "gate.reasons": '["roc_auc 0.91 >= 0.75"]',
        "metric.roc_auc": "0.910000",
        "metric.recall": "0.700000",
    }
    client.create_model_version(NAME, (tmp_path / "model").as_uri(), tags=tags)
    client.create_model_version(NAME, (tmp_path / "model").as_uri())  # v2: no tags at all
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_registered_model_alias(NAME, "challenger", "1")
    return client


def test_a_version_is_found_by_number_or_alias_with_what_its_tags_say(client, tmp_path: Path) -> None:
    by_number, by_alias = ModelVersion.find(client, NAME, "1"), ModelVersion.find(client, NAME, "champion")
    assert by_number == by_alias and by_number is not None
    assert (by_number.name, by_number.version, by_number.aliases) == (NAME, "1", ("challenger", "champion"))
    assert by_number.model_uri == f"models:/{NAME}/1" and by_number.source.endswith(str(tmp_path / "model"))
    assert (by_number.data_tag, by_number.threshold) == ("data-v3", 0.37)
    assert by_number.metrics == {"roc_auc": 0.91, "recall": 0.7}
    assert by_number.gate == {"passed": True, "promoted": False, "reasons": ["roc_auc 0.91 >= 0.75"]}
    assert by_number.trained_on() == "data-v3" and by_number.created > 0
    with pytest.raises(FrozenInstanceError):
        by_number.version = "2"  # type: ignore[misc]


def test_an_untagged_version_reads_as_the_defaults_and_says_its_data_is_unknown(client) -> None:
    bare = ModelVersion.require(client, NAME, "2")
    assert (bare.data_tag, bare.threshold, bare.metrics, bare.aliases) == (None, 0.5, {}, ())
    assert bare.gate == {"passed": False, "promoted": False, "reasons": []}
    with pytest.raises(
        MissingInputError, match=f"{NAME} version 2 has no data_tag: its training data is unknown"
    ):
        bare.trained_on()


@pytest.mark.parametrize(
    ("name", "ref", "said"),
    [
        (NAME, "7", f"{NAME} has no version 7"),
        (NAME, "nobody", f"{NAME} has no version with the alias 'nobody'"),
        ("never-registered", "champion", "never-registered has no version with the alias 'champion'"),
    ],
)
def test_an_absent_version_is_none_to_find_and_one_error_to_require(
    client, name: str, ref: str, said: str
) -> None:
    assert ModelVersion.find(client, name, ref) is None
    with pytest.raises(MissingInputError) as err:
        ModelVersion.require(client, name, ref)
    assert str(err.value) == f"{said}: train one first (uc1_churn_prediction/run_pipeline.py)"


def test_no_step_or_wing_reads_the_registry_s_versions_another_way() -> None:
    """MLflow's version lookups are called in common/model/version.py only: every other module goes through
    ModelVersion, so the lookup and its error are one."""
    root = Path(__file__).resolve().parents[2]
    lookups = ("get_model_version(", "get_model_version_by_alias(", "get_model_version_download_uri(")
    files = [*root.glob("common/**/*.py"), *root.glob("uc*_*/*.py"), root / "run_all.py"]
    found = [
        f"{path.relative_to(root)}: {call}"
        for path in files
        if path.relative_to(root).as_posix() != "common/model/version.py"
        for call in lookups
        if f".{call}" in path.read_text()
    ]
    assert found == []
