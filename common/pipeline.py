"""Run a use case's steps in order in one process; stop at the first permanent failure."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from common.cli import run_step
from common.errors import exit_code_for
from common.redact import redact
from common.settings import Settings
from common.workspace import Workspace

log = logging.getLogger(__name__)
Runner = Callable[[Settings, Workspace], list["Outcome"]]
Main = Callable[..., int]  # main(argv=None)


@dataclass
class Outcome:
    step: str
    status: str  # ok | skipped | failed | not run
    duration_s: float = 0.0
    exit_code: int = 0
    error: str = ""
    reason: str = ""  # why a step was skipped


def run_pipeline(package: str, steps: list[str], cfg: Settings, ws: Workspace) -> list[Outcome]:
    """Import and run each step module's run(); the steps after a failure are reported as not run. The
    pipeline is a lineage run of its own (job `package`), the parent of its steps' runs."""
    from common import history
    from common.lineage.emitter import lineage_for
    from common.pipeline_metrics import publish

    check = getattr(importlib.import_module(package), "check", None)
    if check is not None:  # the use case's own config check, before anything runs (ConfigError: exit 2)
        check(cfg)
    lineage = lineage_for(cfg.lineage, ws)
    run = lineage.start(package, "PIPELINE")
    with history.recorded(ws, "pipeline", package) as entry:
        with lineage.parent(run):
            outcomes = _run_steps(package, steps, cfg, ws)
        failed = next((o for o in outcomes if o.status == "failed"), None)
        if failed is None:
            lineage.complete(run)
        else:
            lineage.fail(run, f"step {failed.step} failed: {failed.error}")
            entry.status, entry.exit_code, entry.error = (
                "failed",
                failed.exit_code,
                f"{failed.step}: {failed.error}",
            )
        entry.figures = {
            s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed", "not run")
        }
    publish(cfg, ws, package, steps)  # once the history has the run
    return outcomes


def _run_steps(package: str, steps: list[str], cfg: Settings, ws: Workspace) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for name in steps:
        if outcomes and outcomes[-1].status in ("failed", "not run"):
            outcomes.append(Outcome(name, "not run"))
            continue
        start = time.monotonic()
        try:
            module = importlib.import_module(f"{package}.{name}")
            result = run_step(name, module.run, cfg, ws)
        except Exception as exc:  # recorded and reported; the caller turns it into the exit code
            log.error("step %s failed: %s", name, exc, exc_info=exc if exit_code_for(exc) == 1 else None)
            outcomes.append(
                Outcome(
                    name, "failed", round(time.monotonic() - start, 3), exit_code_for(exc), redact(str(exc))
                )
            )
            continue
        reason = result.reason if result.status == "skipped" else ""
        outcomes.append(Outcome(name, result.status, round(time.monotonic() - start, 3), reason=reason))
    return outcomes


def exit_code(outcomes: list[Outcome]) -> int:
    return next((o.exit_code for o in outcomes if o.status == "failed"), 0)


def summary(use_case: str, outcomes: list[Outcome]) -> dict[str, object]:
    """A use case's run: failed, skipped (every step skipped: the first one's reason says why) or ok."""
    code = exit_code(outcomes)
    skipped = bool(outcomes) and all(o.status == "skipped" for o in outcomes)
    return {
        "use_case": use_case,
        "status": "failed" if code else "skipped" if skipped else "ok",
        "exit_code": code,
        "reason": outcomes[0].reason if skipped else "",
        "steps": [asdict(o) for o in outcomes],
    }


def not_run(use_case: str, reason: str) -> dict[str, object]:
    """A use case run_all did not start, and why (an earlier one failed, or the config check did)."""
    return {"use_case": use_case, "status": "not run", "exit_code": 0, "reason": reason, "steps": []}


def run_use_case(folder: str | Path, cfg: Settings, ws: Workspace) -> list[Outcome]:
    """A use case's steps in order (common.usecases finds them in its folder)."""
    from common.usecases import use_case_of

    uc = use_case_of(Path(folder))
    return run_pipeline(uc.package, list(uc.steps), cfg, ws)


def pipeline_main(folder: str | Path, doc: str | None, argv: list[str] | None = None) -> int:
    """The command line of a use case's run_pipeline.py: its flags (the package's OPTIONS, each a config
    override), the run and its one JSON line; the exit code."""
    from common.cli import base_parser, execute
    from common.usecases import use_case_of

    uc = use_case_of(Path(folder))
    parser = base_parser(doc or uc.about)
    options = uc.declared("OPTIONS", ())
    for flag, _, help_text in options:
        parser.add_argument(flag, action="store_true", help=help_text)
    args = parser.parse_args(argv)
    for flag, override, _ in options:
        if getattr(args, flag.lstrip("-").replace("-", "_")):
            args.overrides.append(override)
    body = lambda cfg, ws: summary(uc.name, run_use_case(folder, cfg, ws))  # noqa: E731
    return execute(f"{uc.name}_pipeline", uc.name, args, body, recorded_as=("pipeline", uc.package))


def use_case_script(file: str, doc: str | None) -> tuple[Runner, Main]:
    """What a use case's run_pipeline.py is: `run(cfg, ws)` for run_all and callers in Python, `main(argv)` for
    the command line, both over the steps in the script's folder."""
    folder = Path(file).resolve().parent

    def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
        return run_use_case(folder, cfg, ws)

    def main(argv: list[str] | None = None) -> int:
        return pipeline_main(folder, doc, argv)

    return run, main
