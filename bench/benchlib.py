"""Shared by the benchmarks: run a project script in a fresh interpreter and measure it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.data.sample_data import generate
from common.data.schema import Cast, arrow_schema

if TYPE_CHECKING:
    from common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_measured(
    script: str, workspace: Path, sets: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `script` (repo-relative) in `workspace`; its JSON summary, wall time and peak RSS.

    os.wait4 gives this child's own rusage: its ru_maxrss is the largest of the child and the descendants it
    waited for (the KFP task processes), not a sum."""
    full_env = {**os.environ, "MLOPS_WORKSPACE": str(workspace), **(env or {})}
    cmd = [sys.executable, str(ROOT / script), *(arg for item in sets for arg in ("--set", item))]
    workspace.mkdir(parents=True, exist_ok=True)
    out_file = workspace / f"{Path(script).stem}.stdout"
    start = time.perf_counter()
    with out_file.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    lines = out_file.read_text().strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{script} exited {code}: {summary.get('error', 'no summary')}")
    # ru_maxrss is in KiB on Linux
    return {"summary": summary, "wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def write_extract(cfg: Settings, rows: int, dest: Path) -> Path:
    """A Parquet file like step 01's: the config's schema, zstd, a row group per chunk."""
    import pyarrow.parquet as pq

    table = Cast(cfg.dataset, arrow_schema(cfg.dataset, "int"), None).table(generate(rows, seed=42))
    pq.write_table(table, dest, compression="zstd", row_group_size=cfg.warehouse.chunk_rows)
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measured_child(script: str, *args: str) -> dict[str, Any]:
    """Run `script --child ARGS...` (a benchmark measuring itself in a fresh interpreter): the JSON line it prints,
    with its own peak RSS (os.wait4's rusage of that child)."""
    cmd = [sys.executable, script, "--child", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{Path(script).name} --child {' '.join(args)} failed")
    return {**json.loads(out), "peak_rss_mb": round(usage.ru_maxrss / 1024)}  # KiB on Linux


@contextmanager
def customers_database(server: str, table: str, rows: int, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on `server` holding `rows` generated customers in `table`; its URL. Dropped on
    the way out, whatever happens."""
    import logging
    import secrets

    from sqlalchemy import create_engine, text

    from common.data.sample_data import load
    from common.data.warehouse import make_engine

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{server}/{name}"
        engine = make_engine(url)
        try:
            load(engine, table, rows, seed=42)
        finally:
            engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        logging.getLogger("bench").info("dropped database %s", name)


def report(figures: dict[str, Any]) -> int:
    """A bench's last act: its one JSON line of figures on stdout; its exit code."""
    print(json.dumps(figures), flush=True)
    return 0


def entry(main: Callable[[], int], child: Callable[[str, Path], Any] | None = None) -> None:
    """Run a bench: `main`, or with `--child NAME PATH` (measured_child) the `child` part, printed as JSON."""
    if child is not None and len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]))))
        raise SystemExit(0)
    raise SystemExit(main())
