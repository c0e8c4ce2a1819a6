"""Step 02: the model card of the champion (--version N or --alias NAME for another), built from what the registry
and the workspace already know: the version and its MLflow run, estimator and threshold; the training data's DVC
tag, rows, time window and validation; the features; the holdout metrics with bootstrap intervals and the gate's
reasons; step 01's fairness verdict; UC4's lineage provenance; and, from config (model_card:), what only people
know. Three forms under <workspace>/reports/model_card/<model>-v<N>/: model_card.md (YAML metadata, through
huggingface_hub's ModelCard, offline), model_card.html (self-contained) and model_card.json (the Model Card
Toolkit schema's sections). Logged on the version's MLflow run; regenerating replaces them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from common.cli import version_step_main
from common.model.card import card_dir, gather
from common.model.card_render import to_html, to_markdown, to_mct
from common.model.version import require
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, write_text
from uc5_fairness_docs import USE_CASE

ROLE = "model_card"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc5_fairness_docs.{STEP}")
ARTIFACTS = "model_card"  # the folder on the version's MLflow run


def run(cfg: Settings, ws: Workspace) -> StepResult:
    from common.model.tracking import client_for, tracking_uri

    target = require(cfg, ws, cfg.fairness.version or cfg.fairness.alias)
    card = gather(cfg, ws, target)
    folder = card_dir(ws, target)
    files = {
        "markdown": folder / "model_card.md",
        "html": folder / "model_card.html",
        "json": folder / "model_card.json",
    }
    write_text(files["markdown"], to_markdown(card))
    write_text(files["html"], to_html(card))
    write_text(files["json"], json.dumps(to_mct(card), indent=2))
    client = client_for(tracking_uri(cfg, ws))
    client.log_artifacts(target.run_id, str(folder), ARTIFACTS)  # same names: a new card replaces the old
    where = f"runs:/{target.run_id}/{ARTIFACTS}/model_card.md"
    client.set_model_version_tag(target.name, target.version, "model_card", where)
    log.info("model card of %s v%s: %s (and on MLflow: %s)", target.name, target.version, folder, where)
    return StepResult(
        step=STEP,
        outputs={
            "model_name": target.name,
            "version": target.version,
            **{k: str(v) for k, v in files.items()},
            "mlflow": where,
            "fairness": (card["fairness"] or {}).get("verdict", "not analysed"),
            "lineage": card["lineage"]["available"],
        },
        metrics={k: m["value"] for k, m in card["metrics"].items()},
        datasets_read=[f"models:/{target.name}/{target.version}"],
        datasets_written=[files["json"].as_uri()],
    )


def main(argv: list[str] | None = None) -> int:
    return version_step_main(STEP, USE_CASE, run, argv, __doc__ or STEP, "fairness")


if __name__ == "__main__":
    raise SystemExit(main())
