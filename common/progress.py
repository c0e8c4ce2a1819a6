"""Progress of long work (training, Feast materialization, batch scoring, a replay, drift on a large log, the
fairness bootstrap). On a terminal (stderr is a TTY) it is a tqdm bar, with log lines printed above it. Under
cron nobody watches a bar, so a log line is written at most every INTERVAL_S seconds instead, e.g.
"batch scoring: 400,000 of 1,000,000 rows (40 %), 12 s". Work that lasted an interval or more ends with a
"...: done" line. Quicker work logs that line at DEBUG only, so a short run's log stays as it was."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import IO, Any, TypeVar

log = logging.getLogger(__name__)
INTERVAL_S = 10.0  # not a TTY: one progress line at most this often
T = TypeVar("T")


def line(what: str, done: int, total: int | None, unit: str, elapsed_s: float) -> str:
    """One progress line: "batch scoring: 400,000 of 1,000,000 rows (40 %), 12 s"."""
    if total:
        return f"{what}: {done:,} of {total:,} {unit} ({100 * done / total:.0f} %), {elapsed_s:.0f} s"
    return f"{what}: {done:,} {unit}, {elapsed_s:.0f} s"


class Progress:
    """Counts work done and shows it: a tqdm bar when `stream` is a terminal, else a log line at most every
    `every_s` seconds."""

    def __init__(
        self,
        what: str,
        total: int | None,
        unit: str,
        every_s: float = INTERVAL_S,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.unit, self.every_s, self.clock = what, total, unit, every_s, clock
        self.done = 0
        self.start = self.last = clock()
        out = stream if stream is not None else sys.stderr  # at call time: a test may have swapped it
        self.bar = _bar(what, total, unit, out) if is_terminal(out) else None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            log.info("%s", line(self.what, self.done, self.total, self.unit, now - self.start))

    def close(self, done: bool) -> None:
        """Remove the bar and, when the work finished, say so (at DEBUG after quick work)."""
        if self.bar is not None:
            self.bar.close()
        if done:
            elapsed = self.clock() - self.start
            level = logging.INFO if elapsed >= self.every_s else logging.DEBUG
            log.log(level, "%s: done, %s %s in %.0f s", self.what, f"{self.done:,}", self.unit, elapsed)


@contextlib.contextmanager
def progress(
    what: str,
    total: int | None = None,
    unit: str = "items",
    every_s: float = INTERVAL_S,
    stream: IO[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Progress]:
    """A Progress for the span of the block; the done line only when the block ends without an error."""
    shown = Progress(what, total, unit, every_s, stream, clock)
    finished = False
    try:
        with _logs_above(shown.bar):
            yield shown
        finished = True
    finally:
        shown.close(finished)


def track(
    items: Iterable[T],
    what: str,
    total: int | None = None,
    unit: str = "items",
    size: Callable[[T], int] | None = None,
) -> Iterator[T]:
    """`items`, each counted (`size` of it, default 1) once the caller has handled it."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    with progress(what, total, unit) as shown:
        for item in items:
            yield item
            shown.update(size(item) if size else 1)


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _bar(what: str, total: int | None, unit: str, stream: IO[str]) -> Any:
    from tqdm import tqdm

    # leave=False: the bar goes when the work ends; the log keeps the record
    return tqdm(total=total, desc=what, unit=f" {unit}", unit_scale=True, file=stream, leave=False)


def _logs_above(bar: Any) -> contextlib.AbstractContextManager[Any]:
    """With a bar, log lines to the terminal are written above it instead of through it."""
    if bar is None:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()
