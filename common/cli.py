"""The thin main() shared by steps and pipelines: args, config, logging, lock, retry, exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common.config import load_config
from common.errors import EXIT_OK, ConfigError, LockHeldError, MlopsError, exit_code_for, exit_status
from common.lock import run_lock
from common.log import setup_logging
from common.redact import redact
from common.retry import call_with_retry
from common.settings import Settings
from common.step import StepResult
from common.telemetry import disable_telemetry
from common.workspace import Workspace

log = logging.getLogger(__name__)
StepFn = Callable[[Settings, Workspace], StepResult]

EPILOG = """examples:
  %(prog)s
  %(prog)s --set warehouse.url=postgresql+psycopg://etl@db.internal/shop
  MLOPS__OBJECT_STORE__BACKEND=s3 %(prog)s --config my-config.yaml
exit codes: 0 done, 1 error (after retries), 2 bad config, 3 data invalid, 4 gate failed, 75 locked"""


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="config file (default: config.yaml in the project root)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value; repeatable",
    )
    return parser


def execute(
    name: str,
    lock_name: str | None,
    args: argparse.Namespace,
    body: Callable[[Settings, Workspace], dict[str, Any]],
    recorded_as: tuple[str, str] | None = None,
) -> int:
    """Load config, set up logging, hold the lock, run `body`; print its JSON summary; return the exit code.
    A run refused by a held lock goes to the run history as `recorded_as` (kind, name; default: a step)."""
    disable_telemetry()
    with own_argv():
        return _execute(name, lock_name, args, body, recorded_as)


def _execute(
    name: str,
    lock_name: str | None,
    args: argparse.Namespace,
    body: Callable[[Settings, Workspace], dict[str, Any]],
    recorded_as: tuple[str, str] | None,
) -> int:
    try:
        cfg = load_config(args.config, args.overrides)
        ws, log_file = _open_workspace(cfg, name)
    except ConfigError as exc:
        print(redact(f"{name}: {exc}"), file=sys.stderr)
        _summary({"step": name, "status": "failed", "exit_code": exc.exit_code, "error": redact(str(exc))})
        return exc.exit_code
    log.info("%s: workspace %s, log %s", name, ws.root, log_file)
    try:
        with stdout_to_stderr(), contextlib.ExitStack() as held:
            if lock_name:
                _hold(held, ws, lock_name, recorded_as or ("step", name))
            summary = body(cfg, ws)
    except SystemExit as exc:  # a library that calls sys.exit: its code, and still one summary line
        code = exit_status(exc)
        log.error("%s: exited with code %s (SystemExit raised inside the run)", name, exc.code)
        _summary(
            {"step": name, "status": "failed" if code else "ok", "exit_code": code, "error": f"exit {code}"}
        )
        return code
    except Exception as exc:  # the shell of a cron script: every failure becomes an exit code
        code = exit_code_for(exc)
        if isinstance(exc, MlopsError):
            log.error("%s failed (exit %d): %s", name, code, exc)
        else:
            log.error("%s failed (exit %d): %s: %s", name, code, type(exc).__name__, exc, exc_info=exc)
        _summary({"step": name, "status": "failed", "exit_code": code, "error": redact(str(exc))})
        return code
    _summary(summary)
    return summary.get("exit_code", EXIT_OK)


def _open_workspace(cfg: Settings, name: str) -> tuple[Workspace, Path]:
    """The workspace and the step's log file; a workspace that cannot be made or written is a config error."""
    try:
        ws = Workspace(cfg.workspace)
        return ws, setup_logging(cfg.logging.level, ws.dir("logs"), name)
    except OSError as exc:
        raise ConfigError(
            f"workspace: {cfg.workspace} cannot hold the run's files ({exc.strerror or exc}): set workspace "
            "(or MLOPS_WORKSPACE) to a folder this user can write"
        ) from None


@contextlib.contextmanager
def own_argv() -> Iterator[None]:
    """Our arguments are parsed by now: hide them for the run. kserve 0.21 parses sys.argv when it is imported
    (and reads our --config as an abbreviation of its --configure_logging); nothing imported during a run may
    mistake our command line for its own."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (fd 1) to stderr for the block: Feast, KFP and DVC print progress
    there, and stdout is for the one JSON summary line."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_step(name: str, fn: StepFn, cfg: Settings, ws: Workspace) -> StepResult:
    """Run one step with transient-only retries, time it and record its result in the workspace; its lineage
    (START, then COMPLETE with the datasets it recorded, or FAIL) goes out whatever the step does."""
    from common import history
    from common.lineage.emitter import lineage_for

    lineage = lineage_for(cfg.lineage, ws)
    run = lineage.start(name, "STEP")
    start = time.monotonic()
    log.info("step %s: start", name)
    with history.recorded(ws, "step", name) as entry:
        try:
            result = call_with_retry(lambda: fn(cfg, ws), cfg.retry, name)
        except BaseException as exc:  # reported as the run's FAIL (a sys.exit, Ctrl-C too), then raised on
            lineage.fail(run, redact(str(exc)) or type(exc).__name__)
            raise
        result.duration_s = round(time.monotonic() - start, 3)
        ws.record(result)
        lineage.complete(run, result)
        entry.status, entry.figures = result.status, history.figures_of(_key_figures(result))
    log.info("step %s: done in %.1fs", name, result.duration_s)
    return result


def _key_figures(result: StepResult) -> dict[str, Any]:
    """What a history line keeps of a step: which versions it was about and what it decided, then its metrics."""
    keys = ("version", "model_version", "tag", "data_version", "decision", "reason", "environment", "commit")
    return {**{k: result.outputs[k] for k in keys if k in result.outputs}, **result.metrics}


def action_parser(description: str, **actions: str | tuple[str, str]) -> argparse.ArgumentParser:
    """base_parser with actions that exclude each other: name="help" is a flag --name, name=("METAVAR", "help")
    an option that takes a value (underscores in a name are dashes on the command line)."""
    parser = base_parser(description)
    group = parser.add_mutually_exclusive_group()
    for name, spec in actions.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(spec, tuple):
            group.add_argument(flag, metavar=spec[0], help=spec[1])
        else:
            group.add_argument(flag, action="store_true", help=spec)
    return parser


def step_main(name: str, lock_name: str, fn: StepFn, argv: list[str] | None, description: str) -> int:
    """main() of a step script."""
    args = base_parser(description).parse_args(argv)
    return execute(name, lock_name, args, lambda cfg, ws: run_step(name, fn, cfg, ws).to_dict())


def step_script(name: str, doc: str | None, lock_name: str, fn: StepFn) -> Callable[..., int]:
    """The main(argv=None) of a step script that is `fn` and nothing more (UC1's steps of the shared chain)."""

    def main(argv: list[str] | None = None) -> int:
        return step_main(name, lock_name, fn, argv, doc or name)

    return main


def version_step_main(
    name: str, lock_name: str, fn: StepFn, argv: list[str] | None, description: str, section: str
) -> int:
    """main() of a step about one registered version: --version N or --alias NAME set `section`.version or
    `section`.alias (the config's alias otherwise)."""
    parser = base_parser(description)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help=f"this version number (default: {section}.alias)")
    which.add_argument("--alias", help="the version with this alias")
    args = parser.parse_args(argv)
    if args.version:
        args.overrides.append(f"{section}.version={args.version}")
    if args.alias:
        args.overrides.append(f"{section}.alias={args.alias}")
    return execute(name, lock_name, args, lambda cfg, ws: run_step(name, fn, cfg, ws).to_dict())


def _hold(held: contextlib.ExitStack, ws: Workspace, lock_name: str, recorded_as: tuple[str, str]) -> None:
    """Take the run's lock; a held one means the run never started, and its history says why. (A lock held
    further in, such as UC1's inside UC3's retrain, fails a run that did start: that run records itself.)"""
    try:
        held.enter_context(run_lock(ws.dir("locks"), lock_name))
    except LockHeldError as exc:
        from common import history

        history.record_refused(ws, *recorded_as, exc)
        raise


def _summary(data: dict[str, Any]) -> None:
    print(redact(json.dumps(data, default=str)), flush=True)  # a secret never reaches the summary line
