"""Step 03 of UC2: run the canary experiment step 02 declared. Every interval it reads both versions' counters
(the server's /metrics, or PromQL when ab_testing.prometheus_url is set), judges every objective per version on
what happened since the experiment began, and records the iteration; `failure_limit` failing iterations in a row
end it early. Then the decision:
  promote   the candidate takes the stable alias (champion), the old champion gets `previous`, and the candidate
            is served alone;
  rollback  the split goes back to 0 % (the champion alone), the candidate gets a `rejected` tag naming every
            failed objective, and the champion is unchanged.
The record and a report (JSON, and an HTML page of each objective per iteration for both versions) stay under
<workspace>/reports/ab/<experiment>/."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from common.cli import step_main
from common.experiment import judgement as judge
from common.experiment.ab_report import render
from common.experiment.act import carry_out, resume
from common.experiment.readers import read_versions, window_of
from common.experiment.replay import read_responses
from common.serving import local_server
from common.settings import ObjectivesCfg, Settings
from common.step import StepResult
from common.workspace import Workspace, write_text
from uc2_ab_testing import USE_CASE
from uc2_ab_testing.uc2_02_create_experiment_iter8 import STEP as EXPERIMENT_STEP
from uc2_ab_testing.uc2_02_create_experiment_iter8 import Experiment

ROLE = "experiment"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc2_ab_testing.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    created = ws.require(EXPERIMENT_STEP, f"run {EXPERIMENT_STEP}.py first")
    if created.status == "skipped":
        finished = resume(cfg, ws)  # a decision a kill interrupted, whatever step 02 found since
        reason = f"finished the {finished}" if finished else created.reason
        return StepResult(step=STEP, status="skipped", outputs={"reason": reason})
    path = Path(Experiment.of(created).experiment)
    record = path.parent / "report.json"
    # decided before: never observed twice; acted upon again only if that was cut short
    if not record.exists():
        write_text(record, json.dumps(decide(json.loads(path.read_text()), path.parent), indent=2))
    report = carry_out(cfg, ws, record)  # the decision first: an act a kill interrupts is finished on a rerun
    write_text(path.parent / "report.html", render(report))
    reasons = "; ".join(report["reasons"]) or "every objective met"
    log.info("experiment %s: %s (%s)", report["experiment"], report["decision"], reasons)
    return StepResult(
        step=STEP,
        outputs={
            **{k: report[k] for k in ("decision", "stable", "candidate", "reasons", "objectives")},
            "report": str(path.parent / "report.html"),
            "record": str(record),
        },
        metrics={"iterations": len(report["iterations"])},
    )


def decide(experiment: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Observe the experiment to its end (or the failure limit), then the decision and its reasons."""
    try:
        iterations = observe(experiment, folder)
    finally:
        stop_load(folder)
    decision = judge.decide([i["status"] for i in iterations], experiment["failure_limit"], final=True)
    last = iterations[-1]
    return {
        "experiment": experiment["id"],
        "decision": decision,
        "stable": experiment["stable"],
        "candidate": experiment["candidate"],
        "reasons": [] if decision == "promote" else last["reasons"] or ["no iteration passed"],
        "objectives": last["results"],
        "iterations": iterations,
        "acted": False,
    }


def observe(experiment: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """The iterations, each judged on everything since the experiment began, until the last one or the
    failure limit."""
    stable, candidate = experiment["stable"], experiment["candidate"]
    baseline = {v: window_of(w) for v, w in experiment["baseline"].items()}
    objectives = ObjectivesCfg.model_validate(
        {k: v for k, v in experiment["objectives"].items() if k in ObjectivesCfg.model_fields}
    )
    minimum, start = experiment["min_requests"], time.monotonic()
    iterations: list[dict[str, Any]] = []
    for n in range(1, experiment["iterations"] + 1):
        time.sleep(max(0.0, start + n * experiment["interval_s"] - time.monotonic()))
        now = read_versions(experiment)
        s, c = now[stable].minus(baseline[stable]), now[candidate].minus(baseline[candidate])
        results = judge.evaluate(s, c, objectives, minimum)
        if experiment["traffic"] == "replay":  # the replayed customers' labels are known
            labelled = _labelled(read_responses(folder), stable, candidate)
            drop = experiment["objectives"]["max_auc_drop"]
            results.append(judge.auc_result(labelled, drop, minimum, objectives.significance))
        status = judge.iteration_status(results)
        iterations.append(
            {
                "iteration": n,
                "elapsed_s": round(time.monotonic() - start, 2),
                "status": status,
                "requests": {"stable": s.requests, "candidate": c.requests},
                "results": [r.to_dict() for r in results],
                "reasons": judge.failed(results),
            }
        )
        log.info("iteration %d: %s (requests: stable %d, candidate %d)", n, status, s.requests, c.requests)
        if judge.decide([i["status"] for i in iterations], experiment["failure_limit"], final=False):
            break
    return iterations


def _labelled(
    responses: list[dict[str, Any]], stable: str, candidate: str
) -> dict[str, list[tuple[int, float]]]:
    """(label, probability) of each answered request, by version."""
    found: dict[str, list[tuple[int, float]]] = {"stable": [], "candidate": []}
    sides = {stable: "stable", candidate: "candidate"}
    for r in responses:
        if r["status"] == 200 and r["label"] is not None and r["version"] in sides:
            found[sides[r["version"]]].append((int(r["label"]), float(r["p"])))
    return found


def stop_load(folder: Path) -> None:
    """End the replay process (it flushes what it recorded), if it still runs."""
    record = folder / "load.json"
    if not record.exists():
        return
    load = json.loads(record.read_text())
    # after a reboot the pid may be anyone's: only our replay, of this experiment, is signalled
    if local_server.runs(load["pid"], "common.experiment.replay", str(folder / "experiment.json")):
        local_server.kill(load["pid"], timeout_s=10)  # TERM first: it flushes
    else:
        log.info("the load (pid %s) is not running any more: nothing to stop", load["pid"])


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
