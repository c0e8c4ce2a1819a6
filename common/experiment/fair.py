"""The canary's fair comparison set: a version is judged only on customers it was not trained on. A version's
training rows are its data version's rows (the registry's data_tag, read from the data registry) less the holdout
its training run logged; a customer either version trained on never counts towards the quality objective, so a
candidate that memorised its training rows gains nothing from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.model.version import ModelVersion
from common.settings import Settings
from common.workspace import Workspace, atomic_path

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
EXCLUDED_FILE = "trained_ids.parquet"  # beside the experiment: the ids either version was trained on


@dataclass(frozen=True)
class Exclusion:
    """What was left out and why, for the experiment's record and report."""

    path: str
    excluded: int
    notes: list[str]


def trained_ids(cfg: Settings, ws: Workspace, version: ModelVersion) -> tuple[set[object], str]:
    """The ids `version` was trained on, and how they were found. Without a logged holdout every row of its data
    counts as trained (it cannot be told apart)."""
    from common.model.lookup import holdout_predictions

    tag = version.trained_on()
    ids = _data_ids(cfg, ws, tag)
    holdout = holdout_predictions(cfg, ws, version.run_id)
    if holdout is None or cfg.dataset.id_column not in holdout:
        return ids, f"v{version.version}: {len(ids)} rows of {tag}, no holdout logged: all of them excluded"
    held = set(holdout[cfg.dataset.id_column].tolist())
    trained = ids - held
    return (
        trained,
        f"v{version.version}: {len(trained)} training rows of {tag} excluded ({len(held)} held out)",
    )


def write_exclusion(
    cfg: Settings, ws: Workspace, versions: list[ModelVersion], folder: Path
) -> tuple[Exclusion, set[object]]:
    """The union of the versions' training ids, as a one-column Parquet file in the experiment's folder; the
    record of it, and the ids."""
    import pandas as pd

    excluded: set[object] = set()
    notes = []
    for version in versions:
        ids, note = trained_ids(cfg, ws, version)
        excluded |= ids
        notes.append(note)
    path = folder / EXCLUDED_FILE
    with atomic_path(path) as out:
        pd.DataFrame({cfg.dataset.id_column: sorted(excluded, key=str)}).to_parquet(out, index=False)
    for note in notes:
        log.info("fair comparison set: %s", note)
    return Exclusion(str(path), len(excluded), notes), excluded


def read_exclusion(path: str | None) -> set[object]:
    """The excluded ids an experiment recorded; empty for an experiment from before the fair set."""
    import pandas as pd

    if not path or not Path(path).exists():
        return set()
    frame = pd.read_parquet(path)
    return set(frame[frame.columns[0]].tolist())


def fair_rows(frame: pd.DataFrame, id_column: str, excluded: set[object]) -> pd.DataFrame:
    """The rows of `frame` whose customer neither version trained on."""
    return frame[~frame[id_column].isin(excluded)]


def _data_ids(cfg: Settings, ws: Workspace, tag: str) -> set[object]:
    """Every id of the data version `tag` (the id column only is read)."""
    import pyarrow.parquet as pq

    from common.data.registry import data_path, open_registry

    ds = cfg.dataset
    with ws.scratch(f"{ds.table}_{tag}.ids.parquet") as tmp:
        open_registry(cfg, ws).export(data_path(cfg), tag, tmp)
        return set(pq.read_table(tmp, columns=[ds.id_column])[ds.id_column].to_pylist())
