"""Step 02: act on step 01's drift decision. With `retrain`, run the data-and-training chain on the warehouse's
current data (extract, version, validate, features, then the same Kubeflow training pipeline: kfp.local here,
the KFP host on a cluster), through the shared chain UC1 runs too. The new version goes through the gate and is
registered as `challenger` only (drift.retrain_promotes: false), so UC2's experiment decides on the champion;
its registry tags record the drift report and reasons. Without `retrain` it does nothing and says so; a
decision already acted on is never acted on twice."""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

from common.chain import LOCK as CHAIN_LOCK
from common.chain import ORDER, VERSION
from common.chain.records import Trained, Versioned
from common.cli import run_step, step_main
from common.drift.outputs import NO_NEW_DATA, record_retrain, retrains
from common.errors import DataValidationError, GateFailedError
from common.lock import run_lock
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace
from uc3_drift_retraining import USE_CASE

ROLE = "retrain"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
DETECT_STEP = "uc3_01_drift_detection_evidently"
log = logging.getLogger(f"uc3_drift_retraining.{STEP}")
MODULES = dict(zip(ORDER, ["extract", "version", "validate", "features", "train"], strict=True))


def run(cfg: Settings, ws: Workspace) -> StepResult:
    detected = ws.require(DETECT_STEP, f"run {DETECT_STEP}.py first")
    out = detected.outputs
    if out["decision"] != "retrain":
        return _skipped(f"drift decision {out['decision']}: {'; '.join(out['reasons'])}", out)
    done = next((r for r in retrains(ws) if r["decision_id"] == out["decision_id"]), None)
    if done is not None:
        return _skipped(
            f"already acted on {out['decision_id']} ({done['status']}, version {done['version']})", out
        )
    retrain_cfg = _challenger_only(cfg)
    log.info("retraining on the current data: %s", "; ".join(out["reasons"]))
    results = []
    try:
        # UC1's lock too: its nightly run works on the same data registry, feature store and state
        with run_lock(ws.dir("locks"), CHAIN_LOCK):
            for name in ORDER:
                results.append(run_step(name, _chain_step(name), retrain_cfg, ws))
                if name == VERSION and Versioned.of(results[-1]).tag == out["data_tag"]:
                    tag = out["data_tag"]
                    record_retrain(
                        ws, {"decision_id": out["decision_id"], "status": NO_NEW_DATA, "version": None}
                    )
                    return _skipped(f"the warehouse holds no data newer than the champion's ({tag})", out)
    except (GateFailedError, DataValidationError) as exc:  # not transient: the cool-down applies to them too
        status = "gate_failed" if isinstance(exc, GateFailedError) else "data_invalid"
        record_retrain(ws, {"decision_id": out["decision_id"], "status": status, "version": None})
        raise
    trained = Trained.of(results[-1])
    version = trained.version
    if results[-1].status == "skipped":  # the same data and config made a version already (UC1's nightly run)
        record_retrain(
            ws, {"decision_id": out["decision_id"], "status": "already_trained", "version": version}
        )
        return _skipped(f"no retrain needed: {trained.reason}", out)
    _tag(cfg, ws, version, out)
    record_retrain(ws, {"decision_id": out["decision_id"], "status": "registered", "version": version})
    return StepResult(
        step=STEP,
        outputs={
            "retrained": True,
            "version": version,
            "aliases": trained.aliases,
            "data_tag": Versioned.of(results[1]).tag,
            "reasons": out["reasons"],
            "gate": trained.reasons,
            "drift_report": out["report"],
            "decision_id": out["decision_id"],
        },
        metrics=results[-1].metrics,
        # the chain's own runs above record what the new version came from, its training run as the version's
        # one writer: claimed here too, the model's provenance would end at the drift report, not at the data
        datasets_read=[Path(out["report"]).as_uri()],
    )


def _skipped(reason: str, detected: dict[str, Any]) -> StepResult:
    log.info("no retrain: %s", reason)
    return StepResult(
        step=STEP,
        status="skipped",
        outputs={"retrained": False, "reason": reason, "decision": detected["decision"]},
    )


def _challenger_only(cfg: Settings) -> Settings:
    """The config the chain retrains with: the gate may not move the champion unless drift.retrain_promotes."""
    gate = cfg.training.gate.model_copy(
        update={"promote": cfg.drift.retrain_promotes, "promote_key": "drift.retrain_promotes"}
    )
    return cfg.model_copy(update={"training": cfg.training.model_copy(update={"gate": gate})})


def _chain_step(name: str) -> Any:
    return importlib.import_module(f"common.chain.{MODULES[name]}").run


def _tag(cfg: Settings, ws: Workspace, version: str, detected: dict[str, Any]) -> None:
    """The new version's registry tags say why it exists: the drift report and its reasons."""
    from common.model.tracking import client_for, tracking_uri

    client = client_for(tracking_uri(cfg, ws))
    name = cfg.training.registered_model
    tags = {
        "retrained_by": "drift",
        "drift.report": detected["report"],
        "drift.reasons": json.dumps(detected["reasons"]),
        "drift.decision_id": detected["decision_id"],
        "drift.champion_version": detected["model_version"],
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def main(argv: list[str] | None = None) -> int:
    return step_main(STEP, USE_CASE, run, argv, __doc__ or STEP)


if __name__ == "__main__":
    raise SystemExit(main())
