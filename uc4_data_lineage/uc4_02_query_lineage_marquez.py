"""Step 02 of UC4: answer lineage questions, from Marquez's API when lineage.url is set, else from the embedded
store built from the workspace's events. Both go through one graph model (Marquez's lineage answer).

  --upstream NODE   everything NODE came from
  --impact NODE     everything downstream of NODE: jobs, datasets, the model versions trained on it with their
                    aliases, and the endpoints serving them
  --model NAME@ALIAS | NAME/N   the provenance of a model version: warehouse table, extract, DVC tag, validation,
                    feature view, lineage and MLflow runs, the gate's decision
With no question it asks two: the impact of the configured warehouse table and the provenance of the served model.
NODE is a node id (dataset:NS:NAME, job:NS:NAME), a dataset URI as steps record it, or a name. A JSON summary goes
to stdout, a table to stderr, and a picture of each answer to <workspace>/reports/lineage/ (HTML, offline)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

from common.cli import base_parser, execute, run_step
from common.errors import ConfigError
from common.lineage import picture, query
from common.lineage.graph import Graph
from common.lineage.sources import open_source, registry_view
from common.settings import Settings
from common.step import StepResult
from common.workspace import Workspace, write_text
from uc4_data_lineage import USE_CASE

ROLE = "lineage"  # what shared code asks this step for (common.usecases.step_for)

STEP = Path(__file__).stem
log = logging.getLogger(f"uc4_data_lineage.{STEP}")


def run(
    cfg: Settings,
    ws: Workspace,
    upstream: str | None = None,
    impact: str | None = None,
    model: str | None = None,
    depth: int = 20,
) -> StepResult:
    standing = not (upstream or impact or model)  # the two questions a scheduled run answers
    if standing and cfg.lineage.backend == "none" and not cfg.lineage.url:
        return StepResult(step=STEP, status="skipped", outputs={"reason": "lineage.backend is none"})
    source = open_source(cfg, ws)
    models = registry_view(cfg, ws)
    answers: list[dict[str, Any]] = []
    pictures: list[str] = []
    if standing:
        name, alias = cfg.training.registered_model, cfg.serving.alias
        impact = default_table(cfg, ws)
        model = f"{name}@{alias}" if alias in models.aliases(name) else None  # no champion yet: no provenance
    if upstream:
        answers.append(
            _picture(ws, *query.upstream(source, query.resolve(source, upstream), depth), pictures)
        )
    if impact:
        target = query.resolve(source, impact)
        found = query.impact(source, models, target, depth, [cfg.training.registered_model])
        answers.append(_picture(ws, *found, pictures))
    if model:
        name, ref = parse_model(model)
        answers.append(_picture(ws, *query.provenance(source, models, name, ref, depth), pictures))
    backend = f"marquez {cfg.lineage.url}" if cfg.lineage.url else "embedded"
    return StepResult(
        step=STEP,
        outputs={"backend": backend, "answers": answers, "pictures": pictures},
        metrics={"answers": len(answers)},
    )


def default_table(cfg: Settings, ws: Workspace) -> str:
    """The warehouse table as step 01 names it."""
    from common.data.warehouse import safe_url, warehouse_url

    return f"{safe_url(warehouse_url(cfg.warehouse, ws))}#{cfg.dataset.table}"


def parse_model(text: str) -> tuple[str, str]:
    """NAME@ALIAS or NAME/N (a models:/ prefix allowed) -> (name, alias or version)."""
    match = re.fullmatch(r"(?:models:/)?([^@/]+)(?:@([\w-]+)|/(\d+))", text)
    if not match:
        raise ConfigError(f"--model {text!r}: give NAME@ALIAS (churn-predictor@champion) or NAME/N")
    return match.group(1), match.group(2) or match.group(3)


def _picture(ws: Workspace, answer: dict[str, Any], graph: Graph, pictures: list[str]) -> dict[str, Any]:
    """Write the answer's picture; the answer names it."""
    subject = answer.get("node") or f"{answer['model']['name']}-v{answer['model']['version']}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", subject.split(":")[-1])[-80:].strip("_")
    path = ws.dir("reports", "lineage") / f"{answer['query']}_{slug}.html"
    write_text(path, picture.render(graph, f"{answer['query']}: {subject}", answer.get("node")))
    pictures.append(str(path))
    return {**answer, "picture": str(path)}


def render_table(answers: list[dict[str, Any]]) -> str:
    """A person's reading of the answers."""
    lines = []
    for a in answers:
        if a["query"] == "upstream":
            lines.append(f"\nupstream of {a['node']}:")
            lines += [f"  {n['type']:<13} {n['id']}" for n in a["upstream"]]
        elif a["query"] == "impact":
            lines.append(f"\nimpact of {a['node']}:")
            lines += [f"  job           {j}" for j in a["jobs"]]
            lines += [f"  {d['type']:<13} {d['id']}" for d in a["datasets"]]
            lines += [
                f"  model version {m['model']}/{m['version']} {' '.join(m['aliases'])}"
                for m in a["model_versions"]
            ]
            lines += [
                f"  endpoint      {e['url']} serves {e['serves']}{' (affected)' if e['affected'] else ''}"
                for e in a["endpoints"]
            ]
        else:
            m = a["model"]
            lines.append(
                f"\nprovenance of {m['name']}/{m['version']} ({', '.join(m['aliases']) or 'no alias'}):"
            )
            lines += [f"  table         {t['id']}" for t in a["tables"]]
            lines += [f"  extract       {e['name']}" for e in a["extracts"]]
            lines += [f"  data version  {d['name']} @ {d['version']}" for d in a["data_versions"]]
            lines += [
                f"  validation    {v['job']}: {v['passed']}/{v['expectations']} passed ({v['status']})"
                for v in a["validation"]
            ]
            lines += [f"  feature view  {f['id']}" for f in a["feature_views"]]
            lines.append(f"  mlflow run    {m['mlflow_run_id']} (lineage run {m['lineage_run']})")
            lines.append(f"  gate          passed={m['gate']['passed']} promoted={m['gate']['promoted']}")
        lines.append(f"  picture       {a['picture']}")
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = base_parser(__doc__ or STEP)
    parser.add_argument("--upstream", metavar="NODE", help="everything NODE came from")
    parser.add_argument("--impact", metavar="NODE", help="everything downstream of NODE")
    parser.add_argument("--model", metavar="NAME@ALIAS|NAME/N", help="the provenance of a model version")
    parser.add_argument("--depth", type=int, default=20, help="hops to walk (default 20)")
    args = parser.parse_args(argv)

    def body(cfg: Settings, ws: Workspace) -> dict[str, Any]:
        result = run_step(
            STEP, lambda c, w: run(c, w, args.upstream, args.impact, args.model, args.depth), cfg, ws
        )
        sys.stderr.write(render_table(result.outputs["answers"]))
        return result.to_dict()

    return execute(STEP, USE_CASE, args, body)


if __name__ == "__main__":
    raise SystemExit(main())
