"""What each use case decided in a run_all, in a line a person reads, and where to look: read from the results
the steps recorded in the workspace."""

from __future__ import annotations

from typing import Any

from common.workspace import Workspace


def out(ws: Workspace, step: str) -> dict[str, Any]:
    """A step's last recorded result as one dict: its metrics, outputs and "_status" ("not run" if none)."""
    found = ws.result(step)
    return {**found.metrics, **found.outputs, "_status": found.status} if found else {"_status": "not run"}


def scored(batch: dict[str, Any]) -> str:
    """What the newest batch scores are: the data version, the model version that made them, and where."""
    if batch["_status"] != "ok":
        return ""
    return f"; scored {batch['data_version']} by v{batch['model_version']} into {batch['table']}"


def refreshed(ws: Workspace, step: str) -> str:
    """A use case's refresh of the batch scores, when it made new ones."""
    from common.chain import BATCH

    done = out(ws, step)
    return scored(out(ws, BATCH)) if done.get("refreshed") else ""


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
            decision, look = decided(use_case, ws)
        lines.append({"use_case": use_case, "decision": decision, "look": look})
    return lines


def decided(use_case: str, ws: Workspace) -> tuple[str, str]:
    """The use case's own `decide(ws)` (its package declares it); one that declares none says so."""
    from common.usecases import find

    found = find(use_case)
    decide = found.declared("decide")
    if decide is None:
        return f"ran (its package {found.package} declares no decide(ws))", ""
    return decide(ws)
