"""Step 02 of UC2: write the canary experiment from config to the workspace, the way Iter8's Experiment declared
it (the versions, the mode, the objectives per version, the interval, the iterations, the minimum requests and
the failure limit), the fair comparison set (the customers neither version was trained on) and the plan (how
many fair labelled customers, requests and seconds the quality claim needs, printed), take the counters' baseline,
and start the load: with ab_testing.traffic replay (the default locally), the fair customers of the newest
validated data at ab_testing.replay_rate for the experiment's length, in a process of its own; with live, only
real traffic is observed. Skipped when step 01 was (no challenger)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.chain import VALIDATE
from common.chain.records import Validated
from common.cli import step_main
from common.errors import ConfigError, MissingInputError
from common.experiment.readers import read_versions
from common.redact import without_password
from common.settings import Settings
from common.step import Outputs, StepResult
from common.workspace import Workspace, write_text
from uc2_ab_testing import USE_CASE
from uc2_ab_testing.uc2_01_deploy_canary_kserve import STEP as CANARY_STEP
from uc2_ab_testing.uc2_01_deploy_canary_kserve import Canary

STEP = Path(__file__).stem
LOAD_SLACK_S = 2.0  # the load runs this much past the last reading, so the last interval is full
log = logging.getLogger(f"uc2_ab_testing.{STEP}")


@dataclass(frozen=True)
class Experiment(Outputs):
    """What the monitor reads of the experiment step: the experiment's file."""

    experiment: str


def run(cfg: Settings, ws: Workspace) -> StepResult:
    canary = ws.require(CANARY_STEP, f"run {CANARY_STEP}.py first")
    if canary.status == "skipped":
        return StepResult(step=STEP, status="skipped", outputs={"reason": canary.reason})
    experiment = declare(cfg, ws, Canary.of(canary))
    folder = ws.dir("reports", "ab", experiment["id"])
    fair_and_plan(cfg, ws, experiment, folder)
    reading = {**experiment, "prometheus_url": cfg.ab_testing.prometheus_url}
    experiment["baseline"] = {v: asdict(w) for v, w in read_versions(reading).items()}
    path = folder / "experiment.json"
    write_text(path, json.dumps(experiment, indent=2))
    pid = start_load(path, ws) if experiment["traffic"] == "replay" else None
    log.info(
        "experiment %s: version %s against %s, %d x %gs, %s traffic%s",
        experiment["id"],
        experiment["candidate"],
        experiment["stable"],
        experiment["iterations"],
        experiment["interval_s"],
        experiment["traffic"],
        f" at {experiment['replay']['rate']:g}/s (pid {pid})" if pid else "",
    )
    return StepResult(
        step=STEP,
        outputs={
            **Experiment(str(path)).dump(),
            "id": experiment["id"],
            "load_pid": pid,
            "folder": str(folder),
        },
        datasets_read=[Path(experiment["replay"]["data_path"]).as_uri()] if pid else [],
    )


def declare(cfg: Settings, ws: Workspace, canary: Canary) -> dict[str, Any]:
    """The experiment, from config and what step 01 deployed."""
    ab, ds = cfg.ab_testing, cfg.dataset
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    endpoint = canary.endpoint
    validated = ws.result(VALIDATE)  # the newest validated data, as the workspace recorded it
    if ab.traffic == "replay" and validated is None:
        raise MissingInputError(f"traffic replay needs validated data: run {VALIDATE}.py first")
    if ab.mode == "shadow" and not cfg.serving.inference_log.enabled:
        raise ConfigError(
            "ab_testing.mode shadow reads the candidate's scores from the inference log: set "
            "serving.inference_log.enabled true, or ab_testing.mode split"
        )
    return {
        "id": f"{stamp}-v{canary.stable}-vs-v{canary.candidate}",
        "model": cfg.training.registered_model,
        "stable": canary.stable,
        "candidate": canary.candidate,
        "endpoint": endpoint,
        "metrics_url": endpoint.split("/v1/", 1)[0] + "/metrics",
        "canary_percent": ab.canary_percent,
        "routing": ab.routing,
        "interval_s": ab.interval_s,
        "iterations": ab.iterations,
        "min_requests": ab.min_requests,
        "failure_limit": ab.failure_limit,
        "mode": ab.mode,
        "objectives": {
            **ab.objectives.model_dump(),
            "max_auc_drop": cfg.training.gate.regression_tolerance,
            "min_detectable_auc_drop": ab.min_detectable_auc_drop,
            "alpha": ab.alpha,
            "power": ab.power,
        },
        "traffic": ab.traffic,
        "log_flush_s": cfg.serving.inference_log.flush_s,
        "prometheus_url": without_password(ab.prometheus_url),  # the password stays in the config
        "queries": dict(ab.queries),
        "replay": {
            "rate": ab.replay_rate,
            "duration_s": ab.interval_s * ab.iterations + LOAD_SLACK_S,
            "data_path": Validated.of(validated).path if validated else None,
            "id_column": ds.id_column,
            "fields": [*ds.numeric, *ds.categorical],
            "label": ds.target,
        },
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def fair_and_plan(cfg: Settings, ws: Workspace, experiment: dict[str, Any], folder: Path) -> None:
    """The fair comparison set (the ids either version trained on, left out) and the plan, into the experiment;
    the plan is printed: how many labelled customers, requests and seconds the quality claim needs."""
    import pyarrow.parquet as pq

    from common.experiment.fair import fair_rows, write_exclusion
    from common.experiment.plan import make_plan
    from common.model.version import require

    versions = [require(cfg, ws, experiment[side]) for side in ("stable", "candidate")]
    excluded, trained = write_exclusion(cfg, ws, versions, folder)
    experiment["fair"] = asdict(excluded)
    experiment["replay"]["excluded"] = excluded.path
    fair, prevalence = None, 0.25
    if experiment["traffic"] == "replay":
        replay = experiment["replay"]
        table = pq.read_table(replay["data_path"], columns=[replay["id_column"], replay["label"]]).to_pandas()
        kept = fair_rows(table, replay["id_column"], trained)
        fair = len(kept)
        prevalence = float(kept[replay["label"]].mean()) if fair else prevalence
        experiment["fair"]["customers"] = fair
    auc = versions[0].metrics.get("roc_auc", 0.8)
    plan = make_plan(experiment, auc, prevalence, fair)
    experiment["plan"] = {**plan.to_dict(), "said": plan.said()}
    (log.warning if plan.enough is False else log.info)("plan: %s", plan.said())


def start_load(path: Path, ws: Workspace) -> int:
    """The replay process, detached, with its log beside the experiment."""
    cmd = [sys.executable, "-m", "common.experiment.replay", "--experiment", str(path)]
    with (path.parent / "load.log").open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    write_text(path.parent / "load.json", json.dumps({"pid": proc.pid, "cmd": cmd}))
    return proc.pid


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
