"""What the reports page links: the newest report of each kind in the workspace, and what the steps recorded
about it. Pure reading; nothing here writes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.usecases import discover, pipeline_for, script_for, step_for
from common.workspace import Workspace, file_path


@dataclass
class Section:
    title: str
    links: list[tuple[str, Path]] = field(default_factory=list)  # label, file
    notes: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # a list of short lines, such as a gate's reasons
    images: list[Path] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)  # a header row, then rows
    empty: str = ""  # what to run when there is nothing yet


def newest(folder: Path, pattern: str) -> Path | None:
    found = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def collect(ws: Workspace) -> list[Section]:
    reports = ws.root / "reports"
    return [
        use_cases(ws),
        _validation(ws, reports),
        _training(ws),
        _batch(ws),
        _drift(ws, reports),
        _canary(ws, reports),
        _fairness(reports),
        _lineage(reports),
        _gitops(ws),
        _quarantine(ws),
    ]


def use_cases(ws: Workspace) -> Section:
    """Every use case found in the project's folders (common.usecases), in run order: what it is, how many of its
    steps have a result here, and what its last run decided (its package's decide)."""
    from common.decisions import decided

    section = Section("Use cases")
    rows = []
    for uc in discover():
        ran = sum(ws.result(step) is not None for step in uc.steps)
        decision = decided(uc.name, ws)[0] if ran == len(uc.steps) else "" if ran else "not run yet"
        rows.append([uc.name, uc.about, f"{ran} of {len(uc.steps)} steps", decision])
    section.table = [["use case", "what", "results", "last decision"], *rows]
    return section


def _quarantine(ws: Workspace) -> Section:
    """What was moved aside (bad lines and files), by kind, and the index that says what, from where, why."""
    from common.quarantine import INDEX, counts

    section = Section("Quarantine (bad lines and files moved aside)")
    found = counts(ws)
    if not found:
        section.notes.append("nothing was quarantined")
    else:
        section.table = [["kind", "items"], *[[kind, str(n)] for kind, n in sorted(found.items())]]
        _linked(section, ("what, from where and why (JSON lines)", ws.root / "quarantine" / INDEX))
    return section


def _outputs(ws: Workspace, step: str) -> dict[str, Any] | None:
    found = ws.result(step)
    return {**found.outputs, **found.metrics, "_status": found.status} if found else None


def _linked(section: Section, *found: tuple[str, Path | None]) -> Section:
    section.links += [(label, path) for label, path in found if path is not None]
    return section


def _validation(ws: Workspace, reports: Path) -> Section:
    section = Section("Data validation (Great Expectations)", empty=script_for("validate"))
    docs = reports / "data_docs" / "index.html"
    _linked(section, ("Data Docs", docs if docs.is_file() else None))
    _linked(section, ("newest validation result (JSON)", newest(reports / "validation", "*.json")))
    done = _outputs(ws, step_for("validate"))
    if done:
        section.notes.append(
            f"{done.get('tag')}: {done.get('expectations')} expectations, {done.get('success_percent')}% met, "
            f"{done.get('rows')} rows"
        )
    return section


def _training(ws: Workspace) -> Section:
    section = Section("Training and the gate (Kubeflow Pipelines, MLflow)", empty=script_for("train"))
    done = _outputs(ws, step_for("train"))  # the newest training, UC1's or UC3's retrain
    if done and done.get("version"):
        figures = ", ".join(
            f"{k} {done[k]:.3f}" for k in ("roc_auc", "f1", "precision", "recall") if k in done
        )
        retrain = _outputs(ws, step_for("retrain")) or {}
        why = " (UC3's retrain on drift)" if retrain.get("version") == done["version"] else ""
        section.notes.append(f"newest: version {done['version']}{why}, {done.get('candidate')}: {figures}")
        section.items = [f"gate: {reason}" for reason in done.get("reasons", [])]
    runs = ws.root / "kfp" / "runs"
    plots = newest(runs, "*/*/plots/*.png") if runs.is_dir() else None
    if plots is not None:  # the plots of the newest pipeline run, every candidate
        section.images = sorted(plots.parent.parent.parent.glob("*/plots/*.png"))
    return section


def _batch(ws: Workspace) -> Section:
    section = Section("Batch scores", empty=script_for("batch"))
    done = _outputs(ws, step_for("batch"))
    if done and done["_status"] == "ok":
        section.notes.append(
            f"{done.get('rows')} customers of {done.get('data_version')} scored by version "
            f"{done.get('model_version')} into table {done.get('table')} at {done.get('scored_at')}"
        )
        parquet = str(done.get("parquet", ""))
        if parquet.startswith("file://"):
            _linked(section, ("the scores (Parquet)", file_path(parquet)))
    return section


def _drift(ws: Workspace, reports: Path) -> Section:
    section = Section("Drift (Evidently)", empty=script_for("drift"))
    folder = reports / "drift"
    _linked(section, ("newest data drift report", newest(folder, "drift_*.html")))
    _linked(section, ("newest prediction drift report", newest(folder, "prediction_drift_*.html")))
    _linked(section, ("the newest decision (JSON)", newest(folder, "latest.json")))
    done = _outputs(ws, step_for("drift"))
    if done:
        section.notes.append(
            f"decision {done.get('decision')}: drift share {done.get('share')} over "
            f"{done.get('rows_current')} current rows"
        )
    return section


def _canary(ws: Workspace, reports: Path) -> Section:
    section = Section("Canary experiment (A/B)", empty=pipeline_for("experiment"))
    _linked(section, ("newest experiment report", newest(reports / "ab", "*/report.html")))
    done = _outputs(ws, step_for("experiment"))
    if done:
        section.notes.append(f"{done['_status']}: {done.get('decision') or done.get('reason', '')}")
    return section


def _fairness(reports: Path) -> Section:
    section = Section("Fairness and the model card", empty=pipeline_for("fairness"))
    return _linked(
        section,
        ("newest fairness report", newest(reports / "fairness", "*/fairness.html")),
        ("newest model card", newest(reports / "model_card", "*/model_card.html")),
        ("model card (Markdown)", newest(reports / "model_card", "*/model_card.md")),
    )


def _lineage(reports: Path) -> Section:
    section = Section("Lineage (OpenLineage)", empty=pipeline_for("lineage"))
    folder = reports / "lineage"
    pictures = (
        sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
        if folder.is_dir()
        else []
    )
    section.links += [(p.stem.replace("_", " "), p) for p in pictures]
    return section


def _gitops(ws: Workspace) -> Section:
    """The deployment repo's last commits as the workspace clone has them: git log is the deploy history."""
    section = Section("GitOps history (the deployment repo)", empty=pipeline_for("promote"))
    checkout = ws.root / "gitops" / "checkout"
    if not (checkout / ".git").is_dir():
        return section
    fmt = "%h%x1f%cI%x1f%s%x1f%(trailers:key=Gate,valueonly,separator=%x2c)%x1e"
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "log", "-n", "20", f"--format={fmt}", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return section  # a clone a killed run left unborn: the next promotion repairs it
    rows = [r.strip("\n").split("\x1f") for r in out.split("\x1e") if r.strip()]
    section.table = [["commit", "when", "subject", "gate"], *(r + [""] * (4 - len(r)) for r in rows)]
    return section
