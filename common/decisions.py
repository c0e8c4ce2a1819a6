"""What each use case decided in a run_all, in a line a person reads, and where to look: read from the results
the steps recorded in the workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.workspace import Workspace, file_path

Decider = Callable[[Workspace], tuple[str, str]]


def _out(ws: Workspace, step: str) -> dict[str, Any]:
    found = ws.result(step)
    return {**found.metrics, **found.outputs, "_status": found.status} if found else {"_status": "not run"}


def _uc1(ws: Workspace) -> tuple[str, str]:
    trained, served = _out(ws, "uc1_05_model_training_kubeflow"), _out(ws, "uc1_06_model_serving_kserve")
    batch = _out(ws, "uc1_07_batch_scoring_mlflow")
    said = (
        f"trained v{trained.get('version')} ({', '.join(trained.get('aliases') or [])})"
        if trained["_status"] == "ok"
        else f"no new training ({trained.get('reason')})"
    )
    scored = _scored(batch)
    return f"{said}; served v{served.get('version')}{scored}", str(served.get("endpoint", ""))


def _scored(batch: dict[str, Any]) -> str:
    """What the newest batch scores are: the data version, the model version that made them, and where."""
    if batch["_status"] != "ok":
        return ""
    return f"; scored {batch['data_version']} by v{batch['model_version']} into {batch['table']}"


def _refreshed(ws: Workspace, step: str) -> str:
    """A use case's refresh of the batch scores, when it made new ones."""
    done = _out(ws, step)
    return _scored(_out(ws, "uc1_07_batch_scoring_mlflow")) if done.get("refreshed") else ""


def _uc2(ws: Workspace) -> tuple[str, str]:
    canary, done = _out(ws, "uc2_01_deploy_canary_kserve"), _out(ws, "uc2_03_monitor_experiment")
    if canary["_status"] == "skipped":
        return f"no challenger ({canary.get('reason')})", ""
    verb = {"promote": "promoted", "rollback": "rolled back"}.get(
        str(done.get("decision")), done.get("decision")
    )
    refreshed = _refreshed(ws, "uc2_04_refresh_scores_mlflow")
    return f"{verb} v{done.get('candidate')} against v{done.get('stable')}{refreshed}", str(
        done.get("report", "")
    )


def _uc3(ws: Workspace) -> tuple[str, str]:
    detected, retrain = (
        _out(ws, "uc3_01_drift_detection_evidently"),
        _out(ws, "uc3_02_trigger_retrain_kubeflow"),
    )
    report = str(next(iter((detected.get("html") or {}).values()), detected.get("report", "")))
    if retrain.get("retrained"):
        aliases = ", ".join(retrain.get("aliases") or [])
        refreshed = _refreshed(ws, "uc3_03_refresh_scores_mlflow")
        return f"drift: retrained v{retrain['version']} ({aliases}){refreshed}", report
    if detected.get("decision") == "none":
        return f"no drift (share {detected.get('share', 0):.2f})", report
    return str(retrain.get("reason") or detected.get("decision")), report


def _uc5(ws: Workspace) -> tuple[str, str]:
    card, fairness = _out(ws, "uc5_02_generate_model_card"), _out(ws, "uc5_01_fairness_analysis_fairlearn")
    verdict = fairness.get("verdict") or f"not analysed: {fairness.get('reason')}"
    return f"card written for v{card.get('version')} (fairness {verdict})", str(card.get("html", ""))


def _uc4(ws: Workspace) -> tuple[str, str]:
    answered = _out(ws, "uc4_02_query_lineage_marquez")
    pictures = answered.get("pictures") or []
    return f"lineage answered ({answered.get('backend')})", str(pictures[-1] if pictures else "")


def _uc6(ws: Workspace) -> tuple[str, str]:
    synced, promoted = _out(ws, "uc6_02_sync_argocd"), _out(ws, "uc6_01_promote_model_git")
    if synced["_status"] == "skipped":
        return f"pushed v{promoted.get('version')}, not synced ({synced.get('reason')})", str(
            promoted.get("url")
        )
    url = str(synced.get("url", ""))
    look = f"git --git-dir {file_path(url)} log" if url.startswith("file://") else url
    what = f"deployed v{synced.get('version')} to {synced.get('environment')} through git"
    at = str(synced.get("revision", ""))[:12]
    return f"{what} at {at} ({synced.get('sync')}, {synced.get('health')})", look


DECIDERS: dict[str, Decider] = {"uc1": _uc1, "uc2": _uc2, "uc3": _uc3, "uc4": _uc4, "uc5": _uc5, "uc6": _uc6}


def decisions(ws: Workspace, results: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One line per use case of this run: a failed one says its error, one not run why, the others what they
    decided."""
    lines = []
    for result in results:
        use_case = str(result["use_case"])
        failed = next((s for s in result["steps"] if s["status"] == "failed"), None)
        if result["status"] == "not run":
            decision, look = f"not run: {result['reason']}", ""
        elif failed:
            said = (failed["error"] or "no message").splitlines()[0]
            decision, look = f"failed at {failed['step']}: {said}", ""
        else:
            decision, look = DECIDERS[use_case](ws)
        lines.append({"use_case": use_case, "decision": decision, "look": look})
    return lines
