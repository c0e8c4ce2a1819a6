"""Run every use case's pipeline in order, in one process, and print a summary of steps with status and duration.

The use cases are found from their folders (common.usecases): each `ucN_<name>/` package, its numbered steps, and
the use cases it runs after (AFTER). Today: UC1, from the warehouse to a model answering on localhost; UC2, the
challenger's canary experiment when there is a challenger; UC3, drift of what the server saw against the champion's
training data, retraining a challenger when it drifted; UC5, the champion's fairness report and model card; UC4,
the lineage of it all with the impact and provenance answers; and last UC6, the champion promoted through the
deployment repo and the local server synced to what git says. A new folder is a new use case here.

Before the first use case starts, every use case's config check runs (a bad key fails in a second, naming it).
The summary lists every use case every time: ran, skipped (and why) or not run (after which failure)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from common.cli import base_parser, execute
from common.errors import ConfigError
from common.lock import run_lock
from common.pipeline import not_run, run_pipeline, summary
from common.settings import Settings
from common.usecases import UseCase, discover, roles, step_for
from common.workspace import Workspace

log = logging.getLogger("run_all")


def run(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    from common import history
    from common.pipeline_metrics import publish

    with history.recorded(ws, "run_all", "run_all") as entry:
        report = _run(cfg, ws)
        entry.figures = {uc["use_case"]: uc["status"] for uc in report["use_cases"]}
        entry.status, entry.exit_code = report["run_all"], report["exit_code"]
        entry.error = report.get("error", "")[:500]
    report["reports"] = str(ws.root / "reports" / "index.html")  # rebuilt as the run was recorded
    publish(cfg, ws, "run_all", [])
    sys.stderr.write(render_table(report))
    return report


def _run(cfg: Settings, ws: Workspace) -> dict[str, Any]:
    from common.lineage.emitter import lineage_for

    use_cases: tuple[UseCase, ...] = ()
    try:
        use_cases = discover()  # a folder that declares itself or a role wrongly is a config error too
        roles()
        preflight(cfg, use_cases)
    except ConfigError as exc:  # nothing has started: every use case found is listed, none run
        log.error("run_all: the config check failed, nothing run: %s", exc)
        reason = f"the config check failed: {str(exc).splitlines()[0]}"
        refused: list[dict[str, Any]] = [not_run(uc.name, reason) for uc in use_cases]
        return _report(cfg, ws, refused, exc.exit_code, str(exc))
    lineage = lineage_for(cfg.lineage, ws)
    root = lineage.start("run_all", "PIPELINE")  # the root run of every use case's lineage
    results: list[dict[str, Any]] = []
    try:
        with lineage.parent(root):
            for uc in use_cases:
                failed = next((r for r in results if r["exit_code"]), None)
                if failed is not None:
                    results.append(not_run(uc.name, f"after {failed['use_case']} failed"))
                    continue
                with run_lock(ws.dir("locks"), uc.name):  # a use case's own cron job must not run beside us
                    outcomes = run_pipeline(uc.package, list(uc.steps), cfg, ws)
                results.append(summary(uc.name, outcomes))
    except Exception as exc:  # a held lock, say: the root run ends as FAIL, then the error goes on as before
        lineage.fail(root, str(exc) or type(exc).__name__)
        raise
    code = next((r["exit_code"] for r in results if r["exit_code"]), 0)
    if code:
        failed = next(r for r in results if r["exit_code"])
        lineage.fail(root, f"use case {failed['use_case']} failed (exit {code})")
    else:
        lineage.complete(root)
    return _report(cfg, ws, results, code)


def preflight(cfg: Settings, use_cases: tuple[UseCase, ...]) -> None:
    """Every use case's own config check (its package's `check`), before any of them starts."""
    for uc in use_cases:
        check = uc.declared("check")
        if check is not None:
            check(cfg)


def _report(
    cfg: Settings, ws: Workspace, results: list[dict[str, Any]], code: int, error: str = ""
) -> dict[str, Any]:
    from common.decisions import decisions

    report = {
        "run_all": "failed" if code else "ok",
        "exit_code": code,
        **({"error": error} if error else {}),
        "workspace": str(ws.root),
        "use_cases": results,
        "endpoint": _endpoint(ws) if not code else None,
        "sample": _sample(ws, cfg) if not code else None,
        "lineage": _pictures(ws) if not code else [],
        "documents": _documents(ws) if not code else [],
        "deployed": _deployed(ws) if not code else None,
        "decisions": decisions(ws, results),
    }
    return report


def _endpoint(ws: Workspace) -> str | None:
    served = ws.result(step_for("serve"))
    return served.outputs["endpoint"] if served else None


def _pictures(ws: Workspace) -> list[str]:
    """The lineage pictures UC4 drew this run."""
    answered = ws.result(step_for("lineage"))
    return answered.outputs.get("pictures", []) if answered else []


def _documents(ws: Workspace) -> list[str]:
    """The champion's fairness report and model card (UC5), as HTML pages to open."""
    found = [ws.result(step_for("fairness")), ws.result(step_for("model_card"))]
    return [r.outputs["html"] for r in found if r and r.status == "ok"]


def _deployed(ws: Workspace) -> dict[str, Any] | None:
    """What UC6 deployed through git: the version, environment, commit and the sync's verdict."""
    synced = ws.result(step_for("sync"))
    if synced is None or synced.status != "ok":
        return None
    keys = ("version", "environment", "revision", "sync", "health", "url")
    return {k: synced.outputs[k] for k in keys}


def _sample(ws: Workspace, cfg: Settings) -> dict[str, Any] | None:
    """A request by the id step 06's smoke test scored (completed from the Feast online store)."""
    served = ws.result(step_for("serve"))
    smoke = served.outputs.get("smoke") if served else None
    key = cfg.dataset.id_column
    return {"instances": [{key: smoke[key]}]} if smoke and key in smoke else None


def sample_curl(endpoint: str, body: dict[str, Any] | None = None) -> str:
    import json

    text = json.dumps(body or {"instances": [{"customer_id": 1}]})
    return f"curl -s -H 'Content-Type: application/json' -d '{text}' {endpoint}"


def render_table(report: dict[str, Any]) -> str:
    """A human summary: one line per step with status and duration."""
    lines = [f"\nrun_all: {report['run_all']} (exit {report['exit_code']}), workspace {report['workspace']}"]
    for uc in report["use_cases"]:
        if uc["status"] == "not run":
            lines.append(f"  {uc['use_case']:<5} not run: {uc['reason']}")
        for step in uc["steps"]:
            error = f"  {step['error'].splitlines()[0]}" if step["error"] else ""
            error = error or (f"  {step['reason']}" if step.get("reason") else "")
            lines.append(
                f"  {uc['use_case']:<5} {step['step']:<40} {step['status']:<8} "
                f"{step['duration_s']:>7.1f}s{error}"
            )
    if report.get("endpoint"):
        lines += [
            "",
            f"the champion answers at {report['endpoint']}; try:",
            f"  {sample_curl(report['endpoint'], report.get('sample'))}",
        ]
    if report.get("documents"):
        lines += ["", "the champion's fairness report and model card (open offline):"]
        lines += [f"  {p}" for p in report["documents"]]
    if report.get("lineage"):
        lines += ["", "lineage (open offline):", *(f"  {p}" for p in report["lineage"])]
    lines += ["", "what each use case decided:"]
    for said in report.get("decisions", []):
        look = f"\n        look: {said['look']}" if said["look"] else ""
        lines.append(f"  {said['use_case']:<5} {said['decision']}{look}")
    lines += ["", f"every report and the run history (open offline): {report['reports']}"]
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or "run_all").parse_args(argv)
    return execute("run_all", "run_all", args, run, recorded_as=("run_all", "run_all"))


if __name__ == "__main__":
    raise SystemExit(main())
