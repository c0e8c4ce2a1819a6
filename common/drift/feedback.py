"""Labels that arrive after the prediction: the warehouse's feedback table (drift.feedback_table: the id column,
`label`, `labelled_at`), joined to logged predictions by customer id. Absent table: no labels, not an error."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from common.data.warehouse import make_engine, reaching, warehouse_url
from common.errors import DataValidationError
from common.settings import DatasetCfg, Settings, fold_label
from common.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
LABEL, LABELLED_AT = "label", "labelled_at"


def labels_for(cfg: Settings, ws: Workspace, ids: pd.Series) -> pd.DataFrame:
    """The newest label of each of `ids` (columns: the id column, `label`, `labelled_at`); empty when there is no
    table. Rows whose label is still null are not labels."""
    import pandas as pd
    from sqlalchemy import inspect

    id_column, table = cfg.dataset.id_column, cfg.drift.feedback_table
    empty = pd.DataFrame(
        {
            id_column: pd.Series(dtype=ids.dtype),
            LABEL: pd.Series(dtype="int64"),
            LABELLED_AT: pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )
    url = warehouse_url(cfg.warehouse, ws)
    engine = make_engine(url, cfg.warehouse.connect_timeout_s)
    try:
        with reaching(url):
            if not inspect(engine).has_table(table):
                log.info("no %s table in the warehouse: performance on labels is not judged", table)
                return empty
            wanted, parts = set(ids.tolist()), []
            query = f'SELECT "{id_column}", "{LABEL}", "{LABELLED_AT}" FROM "{table}"'
            with engine.connect() as conn:
                for chunk in pd.read_sql(query, conn, chunksize=cfg.warehouse.chunk_rows):
                    parts.append(chunk[chunk[id_column].isin(wanted)])
    finally:
        engine.dispose()
    found = pd.concat(parts, ignore_index=True) if parts else empty
    found = found.dropna(subset=[LABEL]) if not found.empty else found  # a label not known yet is no label
    if found.empty:
        return empty
    found[LABELLED_AT] = pd.to_datetime(found[LABELLED_AT], utc=True)
    found[LABEL] = as_labels(found[LABEL], cfg.dataset, table)
    newest = found.sort_values(LABELLED_AT).drop_duplicates(id_column, keep="last")
    return newest[[id_column, LABEL, LABELLED_AT]].astype({LABEL: "int64"}).reset_index(drop=True)


def as_labels(values: pd.Series, ds: DatasetCfg, table: str) -> pd.Series:
    """Feedback labels as 1 and 0: 1 and 0 themselves, or the dataset's own labels (positive_label,
    negative_labels); anything else is a DataValidationError naming the values and their counts, not a metric
    computed on nonsense."""
    import pandas as pd

    ones = {"1", *([fold_label(ds.positive_label)] if ds.positive_label else [])}
    zeros = {"0", *(fold_label(v) for v in ds.negative_labels)}
    folded = values.map(fold_label)
    unknown = values[~folded.isin(ones | zeros)]
    if len(unknown):
        shown = unknown.astype(str).value_counts().head(5).to_dict()
        raise DataValidationError(
            f"{table}.{LABEL}: {len(unknown)} value(s) are not labels: {shown}; a label is 1 or 0, or one of "
            f"the dataset's (dataset.positive_label {ds.positive_label!r}, dataset.negative_labels "
            f"{ds.negative_labels})"
        )
    return pd.Series(folded.isin(ones).astype("int64").to_numpy(), index=values.index)


def write_labels(engine: Engine, table: str, id_column: str, labels: pd.DataFrame) -> int:
    """Append (id, label) rows stamped now to the feedback table, created on first use."""
    frame = labels.rename(columns={labels.columns[0]: id_column, labels.columns[1]: LABEL}).assign(
        **{LABELLED_AT: datetime.now(UTC)}
    )
    with engine.begin() as conn:
        frame.to_sql(table, conn, if_exists="append", index=False, chunksize=20_000)
    return len(frame)


def label_logged(cfg: Settings, ws: Workspace, now: datetime) -> int:
    """Synthetic outcomes for the sample data: the customers the server logged in the last drift window get
    their churn label from the customers table, as if it had just become known."""
    import pandas as pd

    from common.drift.current import from_inference_log

    ds = cfg.dataset
    ids = from_inference_log(cfg, ws, now).frame[ds.id_column].drop_duplicates()
    if ids.empty:
        return 0
    url = warehouse_url(cfg.warehouse, ws)
    engine = make_engine(url, cfg.warehouse.connect_timeout_s)
    try:
        with reaching(url), engine.connect() as conn:
            query = f'SELECT "{ds.id_column}", "{ds.target}" FROM "{ds.table}"'
            known = pd.concat(
                [c[c[ds.id_column].isin(set(ids))] for c in pd.read_sql(query, conn, chunksize=100_000)]
            )
        if ds.positive_label is not None:  # as step 01 reads a text label: case and spaces aside
            positive = str(ds.positive_label).strip().casefold()
            known[ds.target] = (known[ds.target].astype(str).str.strip().str.casefold() == positive).astype(
                "int64"
            )
        return write_labels(engine, cfg.drift.feedback_table, ds.id_column, known)
    finally:
        engine.dispose()
