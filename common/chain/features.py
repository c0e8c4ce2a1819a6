"""The chain's features step (UC1 step 04): derive the features declared in config from the validated data, write
them as the Feast offline source (Parquet), apply the feature_repo declarations and materialize incrementally to
the online store (SQLite by default, Redis by `features.online_store: redis`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from common.chain import FEATURES, VALIDATE
from common.data.schema import parquet_facts
from common.features.engineering import build_features, derived_inputs, feature_types
from common.features.feast_store import feast_names, offline_source, open_store, repo_config
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, atomic_path
from feature_repo.definitions import declare

if TYPE_CHECKING:
    import pandas as pd

STEP = FEATURES
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    import pandas as pd

    validated = ws.require(VALIDATE, f"run {VALIDATE}.py first")
    features = build_features(pd.read_parquet(validated.outputs["path"]), cfg.features, cfg.dataset)
    id_type = validated.outputs.get("id_type", "int")  # a validation recorded before text ids: integers
    source = offline_source(cfg, ws)
    with atomic_path(source) as tmp:
        features.rename(columns=feast_names(cfg.features, cfg.dataset)).to_parquet(tmp, index=False)
    store = open_store(repo_config(cfg, ws))
    objects = declare(cfg.features, cfg.dataset, str(source), id_type)
    store.apply(objects)
    start, end = _window(store, cfg), datetime.now(UTC)
    log.info(
        "materializing %s from %s to %s into the %s online store",
        cfg.features.feature_view,
        start.isoformat(timespec="seconds"),
        end.isoformat(timespec="seconds"),
        cfg.features.online_store,
    )
    store.materialize_incremental(end_date=end)
    rows = _rows_in_window(features, cfg.dataset.event_time, cfg.dataset.id_column, start, end)
    return StepResult(
        step=STEP,
        outputs={
            "offline_source": str(source),
            "feature_views": [cfg.features.feature_view],
            "feature_service": cfg.features.feature_service,
            "online_store": cfg.features.online_store,
            "repo_config": repo_config(cfg, ws),
            "data_tag": validated.outputs["tag"],
            "data_path": validated.outputs["path"],
            "features": list(features.columns[2:]),
            "id_type": id_type,
        },
        metrics={"rows": len(features), "entities_materialized": rows},
        # the data, then the validation verdict it was built on; the data version as steps 02 and 03 named it
        datasets_read=[*validated.datasets_read, *validated.datasets_written],
        datasets_written=[source.as_uri(), _view_uri(cfg)],
        facts={
            **{u: {"version": f["version"]} for u, f in validated.facts.items() if "version" in f},
            source.as_uri(): parquet_facts(source),
            _view_uri(cfg): _view_facts(cfg),
        },
    )


def _view_uri(cfg: Settings) -> str:
    return f"feast://{cfg.features.project}/{cfg.features.feature_view}"


def _view_facts(cfg: Settings) -> dict[str, Any]:
    """For lineage: the view's features with their kinds, and the columns each derived one is computed from."""
    kinds = feature_types(cfg.features, cfg.dataset)
    return {
        "schema": [{"name": n, "type": k} for n, k in kinds.items()],
        "derived_from": derived_inputs(cfg.features),
    }


def _window(store: object, cfg: Settings) -> datetime:
    """Where materialize_incremental starts: after the last run, or now - ttl on the first."""
    view = store.get_feature_view(cfg.features.feature_view)
    last = view.most_recent_end_time
    return last if last else datetime.now(UTC) - timedelta(days=cfg.features.ttl_days)


def _rows_in_window(df: pd.DataFrame, ts: str, key: str, start: datetime, end: datetime) -> int:
    inside = df[(df[ts] > start) & (df[ts] <= end)]
    return int(inside[key].nunique())
