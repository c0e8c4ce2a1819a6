"""Feast declarations: the customer entity, the offline source, the feature view and the model's feature service.

Declarations only; step 04 applies them with the SDK and repo.py exposes them to the Feast CLI. Names are the
Feast names of common.features.feast_store.feast_names (the columns' own, unless Feast refuses one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.features.engineering import feature_types
from common.features.feast_store import feast_names, uninstrumented_feast
from common.settings import DatasetCfg, FeaturesCfg


def declare(fcfg: FeaturesCfg, ds: DatasetCfg, source_path: str, id_type: str) -> list[Any]:
    """[entity, source, feature view, feature service], named and typed from config; the entity's join key is
    a string for text ids (`id_type` "str"), else an integer."""
    uninstrumented_feast()
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    dtypes = {"float": Float64, "int": Int64, "string": String}
    names = feast_names(fcfg, ds)
    entity = Entity(
        name=fcfg.entity,
        join_keys=[names[ds.id_column]],
        value_type=ValueType.STRING if id_type == "str" else ValueType.INT64,
        description="a customer of the warehouse table",
    )
    source = FileSource(
        name=f"{fcfg.feature_view}_source", path=source_path, timestamp_field=names[ds.event_time]
    )
    view = FeatureView(
        name=fcfg.feature_view,
        entities=[entity],
        ttl=timedelta(days=fcfg.ttl_days),
        source=source,
        online=True,
        schema=[Field(name=names[n], dtype=dtypes[k]) for n, k in feature_types(fcfg, ds).items()],
    )
    service = FeatureService(name=fcfg.feature_service, features=[view])
    return [entity, source, view, service]
