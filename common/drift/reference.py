"""What the champion was trained on: the data version behind its `data_tag`, sampled once per data version and
kept under <workspace>/drift/reference/."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from common.settings import Settings
from common.workspace import Workspace, atomic_path

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def reference_frame(cfg: Settings, ws: Workspace, tag: str) -> pd.DataFrame:
    """The dataset's columns at data version `tag`, sampled to drift.reference_rows: prepared once per data
    version (a version's bytes never change), then read back."""
    import pandas as pd

    from common.data.registry import data_path, open_registry

    ds = cfg.dataset
    cached = ws.dir("drift", "reference") / f"{ds.table}_{tag}_{cfg.drift.reference_rows}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    with ws.scratch(f"{ds.table}_{tag}.parquet") as tmp:
        open_registry(cfg, ws).export(data_path(cfg), tag, tmp)
        df = pd.read_parquet(tmp, columns=[ds.id_column, *ds.numeric, *ds.categorical, ds.target])
    if len(df) > cfg.drift.reference_rows:
        df = df.sample(cfg.drift.reference_rows, random_state=cfg.drift.seed).reset_index(drop=True)
    with atomic_path(cached) as out:
        df.to_parquet(out, index=False)
    log.info("reference for %s: %d rows, kept at %s", tag, len(df), cached)
    return df
