"""UC2's decision, acted upon: promote (the aliases move, the candidate is served alone), roll back (the
candidate is tagged rejected, the champion served alone) or inconclusive (the champion served alone, the candidate
not tagged rejected: the next experiment tests it again). The decision is written first (report.json, "acted":
false) and named by an intent (common.intent); the act clears it. Whatever a kill interrupts, the next UC2 run
(step 01, or step 03 alone) finishes it before anything else, whatever the aliases now say; every act is
idempotent, so nothing is done twice."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from common import intent
from common.experiment.ab_report import render
from common.model.version import ModelVersion, find
from common.serving import serve_local
from common.serving.versions import server_spec
from common.settings import Settings
from common.workspace import Workspace, write_text

log = logging.getLogger(__name__)
INTENT = "uc2_decision"


def carry_out(cfg: Settings, ws: Workspace, record: Path) -> dict[str, Any]:
    """Act on the decision in `record` unless it was acted on; the report as it stands after."""
    report = json.loads(record.read_text())
    if report["acted"]:
        intent.clear(ws, INTENT)
        return report
    intent.record(ws, INTENT, {"record": str(record), "experiment": report["experiment"]})
    act(cfg, ws, report)
    report["acted"] = True
    write_text(record, json.dumps(report, indent=2))
    intent.clear(ws, INTENT)
    return report


def resume(cfg: Settings, ws: Workspace) -> str | None:
    """Finish a decision a kill left half done; what was finished, or None."""
    found = intent.pending(ws, INTENT)
    if found is None:
        return None
    record = Path(found["record"])
    if not record.exists():  # the experiment's folder is gone: nothing to finish
        intent.clear(ws, INTENT)
        return None
    report = carry_out(cfg, ws, record)
    write_text(record.parent / "report.html", render(report))  # the page the killed run did not write
    log.warning(
        "finished experiment %s's %s, which a kill had interrupted", report["experiment"], report["decision"]
    )
    return f"{report['decision']} of experiment {report['experiment']}"


def act(cfg: Settings, ws: Workspace, report: dict[str, Any]) -> None:
    """Move the aliases (promote) or tag the candidate (rollback), then serve the winner alone."""
    from common.model.tracking import client_for, tracking_uri

    ab, name = cfg.ab_testing, cfg.training.registered_model
    client = client_for(tracking_uri(cfg, ws))
    stable, candidate = report["stable"], report["candidate"]
    if report["decision"] == "promote":
        client.set_registered_model_alias(name, "previous", stable)
        client.set_registered_model_alias(name, ab.stable_alias, candidate)
        client.set_model_version_tag(
            name, candidate, "ab_testing", f"promoted by experiment {report['experiment']}"
        )
        if "rejected" in ModelVersion.require(client, name, candidate).tags:  # retried, and won this time
            client.delete_model_version_tag(name, candidate, "rejected")
    elif report["decision"] == "inconclusive":  # not shown worse: the next experiment tests it again
        said = f"inconclusive in experiment {report['experiment']}: " + "; ".join(report["reasons"])
        client.set_model_version_tag(name, candidate, "ab_testing", said[:5000])
    else:
        client.set_model_version_tag(name, candidate, "rejected", json.dumps(report["reasons"]))
    intent.boundary(f"uc2.{report['decision']}.registry")
    winner = find(cfg, ws, ab.stable_alias)
    if winner is None:  # the alias was removed meanwhile: nothing left to serve alone
        return
    if cfg.serving.mode == "kserve":
        from common.serving.kserve_deploy import deploy

        deploy(cfg, ws, winner.source, winner.version)
    else:
        serve_local.switch(cfg, ws, server_spec(cfg, ws, winner, ab.stable_alias), [winner])
    intent.boundary(f"uc2.{report['decision']}.served")
