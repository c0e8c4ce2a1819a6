"""Feast declarations: the customer entity, the offline source, the feature view and the model's feature service.

Declarations only; step 04 applies them with the SDK and repo.py exposes them to the Feast CLI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.features.engineering import feature_types
from common.settings import DatasetCfg, FeaturesCfg


def declare(fcfg: FeaturesCfg, ds: DatasetCfg, source_path: str) -> list[Any]:
    """[entity, source, feature view, feature service], named and typed from config."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    dtypes = {"float": Float64, "int": Int64, "string": String}
    entity = Entity(
        name=fcfg.entity,
        join_keys=[ds.id_column],
        value_type=ValueType.INT64,
        description="a customer of the warehouse table",
    )
    source = FileSource(name=f"{fcfg.feature_view}_source", path=source_path, timestamp_field=ds.timestamp)
    view = FeatureView(
        name=fcfg.feature_view,
        entities=[entity],
        ttl=timedelta(days=fcfg.ttl_days),
        source=source,
        online=True,
        schema=[Field(name=n, dtype=dtypes[k]) for n, k in feature_types(fcfg, ds).items()],
    )
    service = FeatureService(name=fcfg.feature_service, features=[view])
    return [entity, source, view, service]
