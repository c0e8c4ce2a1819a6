"""The chain's features step (UC1 step 04): derive the features declared in config from the validated data, write
them as the Feast offline source (Parquet, chunk by chunk), apply the feature_repo declarations and materialize
incrementally to the online store (SQLite by default, Redis by `features.online_store: redis`) in row groups,
through Feast's online write (common/features/materialize.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.chain import FEATURES, VALIDATE
from common.chain.records import Features, Validated
from common.data.schema import parquet_facts
from common.errors import DataValidationError
from common.features.engineering import build_features, derived_inputs, feature_types
from common.features.feast_store import feast_names, offline_source, open_store, repo_config
from common.features.materialize import materialize
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, atomic_path
from feature_repo.definitions import declare

if TYPE_CHECKING:
    import pyarrow as pa

STEP = FEATURES
GROUP_ROWS = 50_000  # the offline source's row groups: the unit of materialization work, per worker process
log = logging.getLogger(__name__)


def run(cfg: Settings, ws: Workspace) -> StepResult:
    validated = ws.require(VALIDATE, f"run {VALIDATE}.py first")
    data = Validated.of(validated)
    id_type = data.id_type
    source = offline_source(cfg, ws)
    names = feast_names(cfg.features, cfg.dataset)
    with atomic_path(source) as tmp:
        written, columns = write_features(Path(data.path), tmp, cfg, names)
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
    keys = (names[cfg.dataset.id_column], names[cfg.dataset.event_time])
    rows = materialize(repo_config(cfg, ws), cfg.features.feature_view, source, keys, (start, end))
    return StepResult(
        step=STEP,
        outputs={
            "offline_source": str(source),
            "feature_views": [cfg.features.feature_view],
            "feature_service": cfg.features.feature_service,
            "online_store": cfg.features.online_store,
            **Features(data_tag=data.tag, data_path=data.path, repo_config=repo_config(cfg, ws)).dump(),
            "features": columns[2:],
            "id_type": id_type,
        },
        metrics={"rows": written, "entities_materialized": rows},
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


def _window(store: Any, cfg: Settings) -> datetime:
    """Where materialize_incremental starts: after the last run, or now - ttl on the first."""
    view = store.get_feature_view(cfg.features.feature_view)
    last = view.most_recent_end_time
    return last if last else datetime.now(UTC) - timedelta(days=cfg.features.ttl_days)


def write_features(
    validated: Path, dest: Path, cfg: Settings, names: dict[str, str]
) -> tuple[int, list[str]]:
    """The features of the validated data as the Feast offline source, built a chunk (warehouse.chunk_rows) at a
    time: memory holds one chunk. Returns the rows written and the columns (warehouse names)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader, writer, written, columns = pq.ParquetFile(validated), None, 0, []
    try:
        for batch in reader.iter_batches(batch_size=cfg.warehouse.chunk_rows):
            features = build_features(batch.to_pandas(), cfg.features, cfg.dataset)
            columns = list(features.columns)
            table = pa.Table.from_pandas(features.rename(columns=names), preserve_index=False)
            if writer is None:
                schema = _source_schema(table.schema, reader.schema_arrow, cfg, names)
                writer = pq.ParquetWriter(dest, schema, compression="zstd")
            writer.write_table(table.cast(writer.schema), row_group_size=GROUP_ROWS)
            written += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataValidationError(f"{validated} holds no rows: nothing to build features from")
    return written, columns


def _source_schema(built: pa.Schema, validated: pa.Schema, cfg: Settings, names: dict[str, str]) -> pa.Schema:
    """The offline source's types from the feature kinds, not from the first chunk (a text column that is all
    empty there would be typed null, and the next chunk refused); id and time as the validated data has them."""
    import pyarrow as pa

    ds = cfg.dataset
    kinds = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
    types = {names[c]: kinds[k] for c, k in feature_types(cfg.features, ds).items()}
    types[names[ds.id_column]] = validated.field(ds.id_column).type
    types[names[ds.event_time]] = validated.field(ds.event_time).type
    return pa.schema([pa.field(name, types.get(name, built.field(name).type)) for name in built.names])
