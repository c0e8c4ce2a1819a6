"""Step 01: how the champion (--version N or --alias NAME for another) treats groups of customers, on the holdout
its training run logged (or the newest labelled data, fairness.data: latest_extract). Per sensitive feature
(fairness.sensitive_features: any low-cardinality column, a 0/1 flag or one of dataset.attributes too, and derived
bins such as age_group), and per intersection of them (fairness.intersections: "Female & 60+" is one group):
fairlearn's MetricFrame per group (count, selection rate, TPR, FPR, precision, accuracy) with 95 % bootstrap
intervals, the demographic parity difference and ratio and the equalized odds difference, and what the What-If
Tool showed: ROC and selection rate by group, the thresholds that would equalize TPR (information only) and the
counterfactual flip rate. The verdict against fairness.thresholds (passed, inconclusive, warn or failed) is a
version tag; under fairness.enforce: block a violation exits 4 naming each one. When labels of production
traffic have arrived (drift.feedback_table), the same analysis of the version's logged answers is shown beside
the holdout's, for information. With no sensitive features configured it is skipped, saying which key to set.
Writes <workspace>/reports/fairness/<model>-v<N>/ (fairness.json, fairness.html, PNGs) and logs them on the
version's MLflow run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.cli import version_step_main
from common.errors import FairnessFailedError, MissingInputError
from common.model.lookup import holdout_predictions
from common.model.version import ModelVersion, require
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, write_text
from uc5_fairness_docs import USE_CASE

ROLE = "fairness"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc5_fairness_docs.{STEP}")


def run(cfg: Settings, ws: Workspace) -> StepResult:
    from common.fairness.analysis import analyse, check_features
    from common.fairness.production import production
    from common.fairness.report import render

    check_features(cfg)
    if not (cfg.fairness.sensitive_features or cfg.fairness.intersections):
        reason = "no fairness.sensitive_features: name the columns to group customers by to analyse fairness"
        log.info("fairness not analysed: %s", reason)
        return StepResult(step=STEP, status="skipped", outputs={"reason": reason})
    target = require(cfg, ws, cfg.fairness.version or cfg.fairness.alias)
    model = _load(cfg, ws, target)
    rows, source = _rows(cfg, ws, target, model)
    named = [*cfg.fairness.sensitive_features, *(p for i in cfg.fairness.intersections for p in i)]
    lacking = sorted({f for f in named if f not in rows.columns})
    if lacking:  # an attribute added to the config after this version was trained: its holdout lacks it
        raise MissingInputError(
            f"fairness.sensitive_features or fairness.intersections {lacking}: not in the rows of {source}; "
            "retrain the version (its holdout then carries them) or set fairness.data: latest_extract"
        )
    folder = ws.dir("reports", "fairness", f"{target.name}-v{target.version}")
    for stale in folder.glob("*.png"):  # a rerun's plots replace the last ones (features may have changed)
        stale.unlink()
    y = rows[cfg.dataset.target].to_numpy().astype(int)
    result = analyse(rows, y, rows["churn_probability"].to_numpy(), target.threshold, model, cfg, folder)
    result |= {"model": target.name, "version": target.version, "data": source}
    # the labelled production traffic beside the holdout, for information: the verdict is the holdout's
    result["production"] = production(cfg, ws, target, datetime.now(UTC))
    result["checked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report, page = folder / "fairness.json", folder / "fairness.html"
    write_text(report, json.dumps(result, indent=2))
    write_text(page, render(result, folder))
    verdict = result["verdict"]
    _record(cfg, ws, target, result, folder, verdict)
    found = "; ".join(result["violations"] + result["inconclusive"]) or "no violation"
    log.info("fairness of v%s: %s (%s)", target.version, verdict, found)
    if verdict == "failed":
        raise FairnessFailedError(
            f"{target.name} version {target.version} failed fairness (fairness.enforce: block; report "
            f"{page}); tagged fairness=failed:\n  - "
            + "\n  - ".join(result["violations"] or result["inconclusive"])
        )
    return StepResult(
        step=STEP,
        outputs={
            "model_name": target.name,
            "version": target.version,
            "verdict": verdict,
            "violations": result["violations"],
            "inconclusive": result["inconclusive"],
            "report": str(report),
            "html": str(page),
            "production_rows": result["production"]["rows"],
        },
        metrics={
            f"{f}.{k}": v for f, found in result["features"].items() for k, v in found["disparities"].items()
        },
        datasets_read=[f"models:/{target.name}/{target.version}"]
        + ([result["production"]["uri"]] if result["production"]["rows"] else []),
        datasets_written=[report.as_uri()],
    )


def _load(cfg: Settings, ws: Workspace, target: ModelVersion) -> Any:
    """The version's model as a scorer of rows (its feature columns), for the counterfactual flip rate."""
    import mlflow

    from common.features.engineering import feature_types
    from common.model.tracking import tracking_uri, use

    use(tracking_uri(cfg, ws))
    model = mlflow.sklearn.load_model(target.model_uri)
    columns = list(feature_types(cfg.features, cfg.dataset))
    return lambda rows: model.predict_proba(rows[columns])[:, 1]


def _rows(cfg: Settings, ws: Workspace, target: ModelVersion, score: Any) -> tuple[Any, str]:
    """The labelled rows with their churn probabilities, and where they came from."""
    if cfg.fairness.data == "holdout":
        holdout = holdout_predictions(cfg, ws, target.run_id)
        if holdout is None:
            raise MissingInputError(
                f"the training run of version {target.version} logged no holdout: "
                "set fairness.data: latest_extract, or retrain"
            )
        return holdout, f"holdout of MLflow run {target.run_id}"
    import pandas as pd

    from common.chain import VALIDATE
    from common.chain.records import Validated
    from common.features.engineering import build_features

    validated = ws.require(VALIDATE, f"fairness.data latest_extract needs validated data: run {VALIDATE}.py")
    data = Validated.of(validated)
    df = pd.read_parquet(data.path)
    kept = [cfg.dataset.target, *cfg.dataset.attributes]  # the label, and the columns that are no inputs
    rows = build_features(df, cfg.features, cfg.dataset).assign(**{c: df[c].to_numpy() for c in kept})
    return rows.assign(churn_probability=score(rows)), f"validated data {data.tag}"


def _record(
    cfg: Settings, ws: Workspace, target: ModelVersion, result: dict[str, Any], folder: Path, verdict: str
) -> None:
    """The figures and files on the version's MLflow run, and the verdict as version tags."""
    from common.model.tracking import client_for, tracking_uri

    client = client_for(tracking_uri(cfg, ws))
    for found in result["features"].values():
        figures = {**found["disparities"], "flip_rate": found["flip_rate"]}
        for key, value in figures.items():
            if value is not None:  # MLflow takes no "&" in a name: an intersection as gender_x_age_group
                name = "_x_".join(found["parts"])
                client.log_metric(target.run_id, f"fairness.{name}.{key}", float(value))
    client.log_artifacts(target.run_id, str(folder), "fairness")  # the same paths: a rerun replaces them
    tags = {
        "fairness": verdict,
        "fairness.violations": json.dumps(result["violations"]),
        "fairness.report": str(folder / "fairness.html"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(target.name, target.version, key, value)


def main(argv: list[str] | None = None) -> int:
    return version_step_main(STEP, USE_CASE, run, argv, __doc__ or STEP, "fairness")


if __name__ == "__main__":
    raise SystemExit(main())
