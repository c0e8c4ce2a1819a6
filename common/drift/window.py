"""The current data of a drift check: the inference log's rows of a time window, read file by file with pyarrow
and sampled while reading, so no DataFrame of the whole window ever exists."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.drift.decision import sample_positions
from common.progress import track

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class Window:
    frame: pd.DataFrame  # the rows compared (all of the window, or the sample)
    rows: int  # rows in the window
    files: int
    quarantined: int = 0  # files Parquet could not read, moved aside

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.rows


def day_folders(root: Path, start: datetime, end: datetime) -> list[Path]:
    """The date=YYYY-MM-DD partitions that can hold rows between start and end."""
    days, day = [], start.date()
    while day <= end.date():
        folder = root / f"date={day:%Y-%m-%d}"
        if folder.is_dir():
            days.append(folder)
        day += timedelta(days=1)
    return days


def log_files(root: Path, start: datetime, end: datetime) -> list[Path]:
    """Whole files only: a file being written has a hidden temporary name until it is renamed."""
    return sorted(p for d in day_folders(root, start, end) for p in d.glob("part-*.parquet"))


def read_window(
    files: list[Path],
    start: datetime,
    end: datetime,
    columns: list[str],
    max_rows: int,
    seed: int,
    version: str | None = None,
    on_bad: Callable[[Path, Exception], object] | None = None,
) -> Window:
    """Rows with start <= ts < end (and of model `version`, when given), the given columns (and ts). Past
    `max_rows`, a seeded sample: the first pass reads only the time (and version) column to find the window's
    rows; the second reads just the sampled ones. A file Parquet cannot read is handed to `on_bad` (the
    quarantine) and left out; the rest is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    readable, masks = [], []
    for f in track(files, "inference log scan", unit="files"):
        try:
            masks.append(_mask(pq.read_table(f, columns=_keys(version)), start, end, version))
        except (pa.ArrowException, OSError, KeyError) as exc:  # torn, not Parquet, or without our columns
            log.warning("inference log: %s cannot be read (%s: %s); left out", f, type(exc).__name__, exc)
            if on_bad is not None:
                on_bad(f, exc)
            continue
        readable.append(f)
    bad, files = len(files) - len(readable), readable
    total = int(sum(m.sum() for m in masks))
    chosen = sample_positions(total, max_rows, seed)
    wanted = list(dict.fromkeys(["ts", *columns]))
    parts, offset = [], 0
    for path, mask in track(zip(files, masks, strict=True), "inference log read", len(files), "files"):
        inside = np.flatnonzero(mask)
        if chosen is not None:  # the sampled positions that fall in this file, as its own row numbers
            lo, hi = np.searchsorted(chosen, [offset, offset + len(inside)])
            inside = inside[chosen[lo:hi] - offset]
        offset += int(mask.sum())
        if len(inside):
            parts.append(pq.read_table(path, columns=wanted).take(pa.array(inside)))
    if chosen is not None:
        log.info("window of %d rows: comparing a seeded sample of %d (drift.max_rows)", total, len(chosen))
    frame = pa.concat_tables(parts).to_pandas() if parts else _empty(wanted)
    return Window(frame, total, len(files), bad)


def _keys(version: str | None) -> list[str]:
    return ["ts"] if version is None else ["ts", "model_version"]


def _mask(table: Any, start: datetime, end: datetime, version: str | None) -> np.ndarray:
    inside = _in_window(table["ts"], start, end)
    if version is None:
        return inside
    return inside & (np.asarray(table["model_version"].to_pylist(), dtype=object) == version)


def _in_window(ts: object, start: datetime, end: datetime) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    low = pa.scalar(start, type=pa.timestamp("us", tz="UTC"))
    high = pa.scalar(end, type=pa.timestamp("us", tz="UTC"))
    return np.asarray(pc.and_(pc.greater_equal(ts, low), pc.less(ts, high)).to_numpy(zero_copy_only=False))


def _empty(columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: [] for c in columns})
