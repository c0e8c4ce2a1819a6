"""Step 03 of UC2: run the canary experiment step 02 declared. Every interval it reads both versions' counters
(the server's /metrics, or PromQL when ab_testing.prometheus_url is set), judges every objective per version on
what happened since the experiment began, and records the look. The quality objective (ROC AUC on the fair
labelled customers) and the positive-rate gap are always-valid sequential tests: the experiment may stop at any
look without raising its false-decision rate (ab_testing.alpha). Then the decision:
  promote       every objective passed, the candidate's quality shown within min_detectable_auc_drop: it takes
                the stable alias (champion), the old champion gets `previous`, and it is served alone;
  rollback      shown worse (or `failure_limit` looks in a row failed): the champion alone again, the candidate
                tagged `rejected` naming every failed objective;
  inconclusive  the last look decided nothing: the champion alone again, the candidate neither promoted nor
                rejected (the next experiment tests it again), with how many more customers would settle it.
The record and a report (JSON, and an HTML page of each objective per iteration for both versions) stay under
<workspace>/reports/ab/<experiment>/."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.cli import step_main
from common.experiment import judgement as judge
from common.experiment.ab_report import render
from common.experiment.act import carry_out, resume
from common.experiment.readers import read_versions, window_of
from common.experiment.replay import read_responses
from common.redact import as_configured
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
        experiment = json.loads(path.read_text())
        url = as_configured(experiment.get("prometheus_url", ""), cfg.ab_testing.prometheus_url)
        experiment["prometheus_url"] = url  # with its password, in memory only
        found = decide(experiment, path.parent, quality(cfg, ws, experiment, path.parent))
        write_text(record, json.dumps(found, indent=2))
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


def decide(experiment: dict[str, Any], folder: Path, quality: Callable[[], judge.Result]) -> dict[str, Any]:
    """Observe the experiment until a decision (or its end), then the decision and its reasons."""
    try:
        looks, iterations = observe(experiment, folder, quality)
    finally:
        stop_load(folder)
    decision = judge.decide(looks, experiment["failure_limit"], final=True)
    last = iterations[-1]
    return {
        "experiment": experiment["id"],
        "mode": experiment.get("mode", "split"),
        "decision": decision,
        "stable": experiment["stable"],
        "candidate": experiment["candidate"],
        "reasons": [] if decision == "promote" else last["reasons"] or ["no iteration passed"],
        "objectives": last["results"],
        "iterations": iterations,
        "plan": experiment.get("plan"),
        "fair": experiment.get("fair"),
        "acted": False,
    }


def observe(
    experiment: dict[str, Any], folder: Path, quality: Callable[[], judge.Result]
) -> tuple[list[list[judge.Result]], list[dict[str, Any]]]:
    """The looks, each judged on everything since the experiment began, until a decision or the last one. The
    quality claim is an always-valid test: looking after every iteration does not raise its error rate. In
    shadow mode the candidate's scores come from the inference log: the last look waits for its flush."""
    stable, candidate = experiment["stable"], experiment["candidate"]
    baseline = {v: window_of(w) for v, w in experiment["baseline"].items()}
    objectives = ObjectivesCfg.model_validate(
        {k: v for k, v in experiment["objectives"].items() if k in ObjectivesCfg.model_fields}
    )
    seq = judge.Sequential.of(experiment["objectives"])
    minimum, start = experiment["min_requests"], time.monotonic()
    looks: list[list[judge.Result]] = []
    iterations: list[dict[str, Any]] = []
    total = experiment["iterations"]
    for n in range(1, total + 1):
        due = start + n * experiment["interval_s"]
        if n == total and (experiment.get("mode") == "shadow" or experiment["traffic"] == "live"):
            due += float(experiment.get("log_flush_s", 0))  # the candidate's last scores reach the log
        time.sleep(max(0.0, due - time.monotonic()))
        now = read_versions(experiment)
        s, c = now[stable].minus(baseline[stable]), now[candidate].minus(baseline[candidate])
        results = [*judge.evaluate(s, c, objectives, minimum, seq), quality()]
        looks.append(results)
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
        log.info(
            "look %d: %s (requests: stable %d, candidate %d; %s)",
            n,
            status,
            s.requests,
            c.requests,
            results[-1].detail,
        )
        if judge.decide(looks, experiment["failure_limit"], final=False):
            break
    return looks, iterations


def quality(
    cfg: Settings, ws: Workspace, experiment: dict[str, Any], folder: Path
) -> Callable[[], judge.Result]:
    """The quality objective at a look: the fair labelled customers' ROC AUCs under the always-valid claims."""
    from common.experiment.fair import read_exclusion
    from common.experiment.labelled import (
        compare,
        feedback_labels,
        logged_scores,
        replay_labels,
        replay_scores,
    )

    seq = judge.Sequential.of(experiment["objectives"])
    excluded = read_exclusion((experiment.get("fair") or {}).get("path"))
    since = datetime.fromisoformat(experiment["started_at"])
    mode, stable, candidate = experiment.get("mode", "split"), experiment["stable"], experiment["candidate"]
    live = feedback_labels(cfg, ws, since) if experiment["traffic"] == "live" else None

    def look() -> judge.Result:
        now = datetime.now(UTC)
        if live is None:  # replay: the replayed customers' labels are known
            responses = read_responses(folder)
            labels = replay_labels(responses)
            scores = replay_scores(responses, stable)
            other = (
                replay_scores(responses, candidate)
                if mode == "split"
                else logged_scores(cfg, ws, since, now, candidate)
            )
        else:  # live: both versions' scores from the log, the labels that arrived since
            scores = logged_scores(cfg, ws, since, now, stable)
            other = logged_scores(cfg, ws, since, now, candidate)
            labels = live([*scores, *other])
        aucs, short = compare(mode, scores, other, labels, excluded, experiment["min_requests"])
        return judge.quality_result(aucs, short, seq)

    return look


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
