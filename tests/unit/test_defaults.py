"""One source of defaults: a key left out of a config behaves as config.yaml documents it. The schema's defaults
equal config.yaml's values key by key, config.yaml shows every key, and a config that describes its own table
starts the sample table's keys empty."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from common.config import DEFAULT_CONFIG, load_config
from common.defaults import TABLE_BOUND
from common.errors import EXIT_CONFIG, ConfigError
from common.settings import Settings

# keys whose config.yaml value is documented as this deployment's own, allowed to differ from the schema's
DEPLOYMENT_SPECIFIC: set[str] = set()


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data and all(isinstance(k, str) for k in data):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: data}


def _schema_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the schema, sections opened, a dict-valued key a leaf; internal fields left out."""
    keys = []
    for name, field in model.model_fields.items():
        if (field.json_schema_extra or {}).get("internal"):
            continue
        path = f"{prefix}.{name}" if prefix else name
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += _schema_keys(kind, path)
        else:
            keys.append(path)
    return keys


def test_an_empty_config_is_config_yaml_key_by_key(tmp_path: Any) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    shipped = _leaves(load_config(environ={}).model_dump(mode="json"))
    defaults = _leaves(load_config(empty, environ={}).model_dump(mode="json"))
    assert shipped.keys() == defaults.keys()
    differ = {k: (defaults[k], shipped[k]) for k in shipped if shipped[k] != defaults[k]}
    assert set(differ) <= DEPLOYMENT_SPECIFIC, differ


def test_config_yaml_shows_every_key_of_the_schema() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    missing = []
    for key in _schema_keys(Settings):
        node: Any = raw
        for part in key.split("."):
            node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
        if node is KeyError:
            missing.append(key)
    assert missing == []


def test_a_config_of_its_own_table_starts_the_sample_tables_keys_empty() -> None:
    sample = Settings()
    own = Settings.model_validate({"dataset": {"table": "t", "numeric": ["x"], "categorical": ["y"]}})
    for section, key in TABLE_BOUND:
        assert getattr(getattr(sample, section), key), (section, key)  # the sample's, without a dataset
        assert getattr(getattr(own, section), key) == [], (section, key)
    assert own.dataset.expectations.not_null == {} and own.training.candidates == sample.training.candidates
    given = Settings.model_validate(
        {"dataset": {"numeric": ["x"]}, "fairness": {"sensitive_features": ["x"]}}
    )
    assert given.fairness.sensitive_features == ["x"]  # what a config gives is kept


def test_an_own_table_without_inputs_is_refused_naming_the_keys() -> None:
    with pytest.raises(ConfigError, match=r"dataset.numeric and dataset.categorical are both empty"):
        load_config(overrides=["dataset={table: t}"], environ={})


def test_an_empty_candidate_list_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["training.candidates=[]"], environ={})
    assert "training.candidates: empty: give at least one model to train" in str(err.value)
    assert err.value.exit_code == EXIT_CONFIG


def test_a_candidate_sklearn_does_not_have_fails_the_check_naming_it() -> None:
    from common.model.training import check_candidates

    cfg = load_config(environ={})
    check_candidates(cfg.training.candidates)  # the shipped ones construct
    typo = cfg.training.candidates[0].model_copy(
        update={"estimator": "sklearn.ensemble.RandomForestClassifer"}
    )
    with pytest.raises(ConfigError, match=r"training.candidates\[0\] \(random_forest\): .*not a class"):
        check_candidates([typo])
    bad = cfg.training.candidates[2].model_copy(update={"params": {"C": "high"}})
    with pytest.raises(ConfigError, match=r"training.candidates\[0\] \(logistic_regression\): params"):
        check_candidates([bad])
