"""The model card in three forms from one gathered dict (common.model.card): Markdown with YAML metadata through
huggingface_hub's ModelCard (offline, from card_template.md), a self-contained HTML page, and JSON in the Model Card
Toolkit schema's sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("card_template.md")
MCT_SCHEMA_VERSION = "0.0.2"


def to_markdown(card: dict[str, Any]) -> str:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    model, data = card["model"], card["data"]
    license_id = card["considerations"]["license"]
    results = [
        EvalResult(
            task_type="tabular-classification",
            dataset_type="churn",
            dataset_name=f"{data['table']} {data['data_tag']} (holdout)",
            metric_type=name,
            metric_value=m["value"],
        )
        for name, m in card["metrics"].items()
    ]
    metadata = ModelCardData(
        model_name=f"{model['name']} v{model['version']}",
        library_name="sklearn",
        license="other" if license_id == "proprietary" else license_id.lower(),
        license_name=license_id if license_id == "proprietary" else None,
        tags=["churn", "tabular-classification", *model["aliases"]],
        eval_results=results,
    )
    return ModelCard.from_template(metadata, template_path=str(TEMPLATE), card=card).content


def to_mct(card: dict[str, Any]) -> dict[str, Any]:
    """The Model Card Toolkit's sections (schema 0.0.2): model_details, model_parameters,
    quantitative_analysis, considerations."""
    model, data, people = card["model"], card["data"], card["considerations"]
    license_id = people["license"]
    performance = [{"type": name, "value": m["value"]} for name, m in card["metrics"].items()]
    for name, m in card["metrics"].items():
        if m["interval"]:
            performance += [
                {"type": f"{name} (95% lower)", "value": m["interval"][0]},
                {"type": f"{name} (95% upper)", "value": m["interval"][1]},
            ]
    for feature, found in ((card["fairness"] or {}).get("features") or {}).items():
        performance += [
            {"type": metric, "value": value, "slice": feature}
            for metric, value in found.items()
            if isinstance(value, int | float)
        ]
    return {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": model["name"],
            "overview": people["overview"],
            "documentation": f"MLflow run {model['mlflow_run_id']}; {model['estimator']} "
            f"{model['parameters']}; decision threshold {model['decision_threshold']:.4f}",
            "owners": people["owners"],
            "version": {"name": model["version"], "date": model["date"]},
            "licenses": [{"identifier": license_id}],
        },
        "model_parameters": {
            "model_architecture": model["estimator"],
            "data": [
                {
                    "name": f"{data['table']} {data['data_tag']}",
                    "description": f"{data['rows']} rows, {data['time_window']}; validation "
                    f"{'passed' if (data['validation'] or {}).get('success') else 'not recorded or failed'}",
                    "sensitive": {"sensitive_data": list((card["fairness"] or {}).get("features") or [])},
                }
            ],
            "input_format": ", ".join(f"{f['name']} ({f['kind']})" for f in card["features"]),
            "output_format": "churn_probability (0-1) and prediction (0/1 at the decision threshold)",
        },
        "quantitative_analysis": {"performance_metrics": performance},
        "considerations": {
            "users": [{"description": u} for u in people["users"]],
            "use_cases": [{"description": u} for u in people["intended_use"]],
            "limitations": [{"description": u} for u in people["limitations"]],
            "tradeoffs": [{"description": u} for u in people["tradeoffs"]],
            "ethical_considerations": people["ethical_considerations"],
        },
    }


HTML = """<!doctype html><html><head><meta charset="utf-8"><title>{{ c.model.name }} v{{ c.model.version }}</title>
<style>body{font:14px sans-serif;margin:16px;max-width:1000px} td,th{border:1px solid #ccc;padding:2px 8px}
table{border-collapse:collapse;margin:8px 0} .failed{background:#f7d6d6} .passed{background:#d9f2d9}</style>
</head><body><h1>{{ c.model.name }} v{{ c.model.version }}</h1><p>{{ c.considerations.overview }}</p>
<h2>Model details</h2><table>
<tr><th>aliases</th><td>{{ c.model.aliases | join(", ") or "none" }}</td></tr>
<tr><th>registered</th><td>{{ c.model.date }}</td></tr><tr><th>MLflow run</th><td>{{ c.model.mlflow_run_id }}</td></tr>
<tr><th>estimator</th><td>{{ c.model.estimator }} ({{ c.model.candidate }})</td></tr>
<tr><th>parameters</th><td>{% for k, v in c.model.parameters.items() %}{{ k }}={{ v }} {% endfor %}</td></tr>
<tr><th>decision threshold</th><td>{{ "%.4f" | format(c.model.decision_threshold) }}</td></tr></table>
<h2>Training data</h2><p>{{ c.data.table }} at {{ c.data.data_tag }}: {{ c.data.rows }} rows
{% if c.data.time_window %}, {{ c.data.time_window[0] }} to {{ c.data.time_window[1] }}{% endif %}.
{% if c.data.validation %}Validation {{ "passed" if c.data.validation.success else "FAILED" }}
(<a href="{{ c.data.data_docs }}">Data Docs</a>).{% endif %}</p>
<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>derived as</th></tr>
{% for f in c.features %}<tr><td>{{ f.name }}</td><td>{{ f.kind }}</td><td>{{ f.derived }}</td></tr>{% endfor %}</table>
<h2>Holdout metrics</h2><table id="metrics"><tr><th>metric</th><th>value</th><th>95 % interval</th></tr>
{% for n, m in c.metrics.items() %}<tr><td>{{ n }}</td><td>{{ "%.4f" | format(m.value) }}</td>
<td>{% if m.interval %}{{ m.interval[0] }} - {{ m.interval[1] }}{% else %}n/a{% endif %}</td></tr>{% endfor %}</table>
<h2>Evaluation gate</h2><ul>{% for r in c.gate %}<li>{{ r }}</li>{% endfor %}</ul>
<h2>Fairness</h2>{% if c.fairness %}<p class="{{ c.fairness.verdict }}">Verdict: {{ c.fairness.verdict }}</p>
<table id="fairness"><tr><th>feature</th>
<th>demographic parity difference</th>
<th>ratio</th><th>equalized odds difference</th><th>flip rate</th></tr>
{% for n, f in c.fairness.features.items() %}{% set flip = "n/a" if f.flip_rate is none else f.flip_rate %}
<tr><td>{{ n }}</td><td>{{ f.demographic_parity_difference }}</td>
<td>{{ f.demographic_parity_ratio }}</td><td>{{ f.equalized_odds_difference }}</td><td>{{ flip }}</td></tr>
{% endfor %}</table><ul>{% for v in c.fairness.violations %}<li>{{ v }}</li>{% endfor %}
{% for v in c.fairness.inconclusive %}<li>inconclusive: {{ v }}</li>{% endfor %}</ul>
<p id="fairness-production">Production traffic: {{ c.fairness.production }}.</p>
{% else %}<p>Not analysed: {{ c.fairness_note }}.</p>{% endif %}
<h2>Lineage</h2>{% if c.lineage.available %}<p>Tables: {{ c.lineage.tables | join(", ") }}; data versions:
{{ c.lineage.data_versions | join(", ") }}; feature views: {{ c.lineage.feature_views | join(", ") }};
{{ c.lineage.runs }} runs; consistent with the registry: {{ c.lineage.consistent }}.</p>
{% else %}<p>Not available: {{ c.lineage.reason }}</p>{% endif %}
<h2>Intended use</h2><ul>{% for u in c.considerations.intended_use %}<li>{{ u }}</li>{% endfor %}
{% for u in c.considerations.users %}<li>Users: {{ u }}</li>{% endfor %}
{% for k in ("intended_use", "users") if k in c.unstated %}<li class="unstated">Not stated: set
<code>{{ c.unstated[k] }}</code> in the config.</li>{% endfor %}</ul>
<h2>Limitations and trade-offs</h2><ul>{% for u in c.considerations.limitations %}<li>{{ u }}</li>{% endfor %}
{% for u in c.considerations.tradeoffs %}<li>Trade-off: {{ u }}</li>{% endfor %}
{% for k in ("limitations", "tradeoffs") if k in c.unstated %}<li class="unstated">Not stated: set
<code>{{ c.unstated[k] }}</code> in the config.</li>{% endfor %}</ul>
<h2>Ethical considerations</h2><ul>{% for r in c.considerations.ethical_considerations %}
<li><b>{{ r.name }}</b>: {{ r.mitigation_strategy }}</li>{% endfor %}
{% if "ethical_considerations" in c.unstated %}<li class="unstated">Not stated: set
<code>model_card.ethical_considerations</code> in the config.</li>{% endif %}</ul>
<h2>Owners and license</h2><ul>{% for o in c.considerations.owners %}<li>{{ o.name }} {{ o.contact }}</li>{% endfor %}
{% if "owners" in c.unstated %}<li class="unstated">Not stated: set <code>model_card.owners</code> in the
config.</li>{% endif %}
<li>License: {{ c.considerations.license }}</li></ul></body></html>
"""


def to_html(card: dict[str, Any]) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(HTML).render(c=card)
