"""Each version's counters for the canary experiment (common.experiment.judgement.Window): from the model server's
own /metrics (embedded, parsed with prometheus_client's parser), or by PromQL from Prometheus (ab_testing.queries).
Both read the same counters, so both give the same verdict on the same traffic."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import defaultdict
from typing import Any

from common.errors import ConfigError, ServiceUnavailableError
from common.experiment.judgement import Window
from common.redact import authorised, without_credentials

# the window's counters and the metric each comes from (counters: <name>_total; the histogram: _bucket by le)
COUNTERS = {
    "requests": "mlops_ab_requests",
    "errors": "mlops_ab_errors",
    "predictions": "mlops_ab_predictions",
    "positives": "mlops_ab_positive_predictions",
}
LATENCY = "mlops_ab_request_seconds"


def windows_from_text(text: str, model: str, versions: list[str]) -> dict[str, Window]:
    """The windows of `versions` from a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, dict[str, float]] = defaultdict(dict)
    buckets: dict[str, dict[float, float]] = defaultdict(dict)
    wanted = {f"{name}_total": field for field, name in COUNTERS.items()}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            version = sample.labels.get("version")
            if sample.labels.get("model_name") != model or version not in versions:
                continue
            if sample.name in wanted:
                counts[version][wanted[sample.name]] = sample.value
            elif sample.name == f"{LATENCY}_bucket":
                buckets[version][float(sample.labels["le"])] = sample.value
    return {v: _window(counts[v], buckets[v]) for v in versions}


def _window(counts: dict[str, float], buckets: dict[float, float]) -> Window:
    return Window(
        int(counts.get("requests", 0)),
        int(counts.get("errors", 0)),
        int(counts.get("predictions", 0)),
        int(counts.get("positives", 0)),
        sorted(buckets.items()),
    )


def read_embedded(
    metrics_url: str, model: str, versions: list[str], timeout_s: float = 5
) -> dict[str, Window]:
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout_s) as resp:
            return windows_from_text(resp.read().decode(), model, versions)
    except OSError as exc:
        raise ServiceUnavailableError(
            f"the model server's metrics at {metrics_url} cannot be read: {exc}"
        ) from exc


def read_prometheus(
    url: str, queries: dict[str, str], model: str, versions: list[str], timeout_s: float = 5
) -> dict[str, Window]:
    """The windows by PromQL: each query of `queries` (requests, errors, predictions, positives, latency) with
    $model and $version filled in; latency answers one series per `le`."""
    from string import Template

    found = {}
    for version in versions:
        counts, buckets = {}, {}
        for field, template in queries.items():
            promql = Template(template).safe_substitute(model=model, version=version)
            answer = _query(url, promql, timeout_s)
            if field == "latency":
                buckets = {float(s["metric"]["le"]): float(s["value"][1]) for s in answer}
            else:
                counts[field] = sum(float(s["value"][1]) for s in answer)
        found[version] = _window(counts, buckets)
    return found


def _query(url: str, promql: str, timeout_s: float) -> list[dict[str, Any]]:
    import json
    from urllib.parse import urlencode

    address = without_credentials(url)  # credentials go as basic auth, never in the address or a message
    try:
        request = authorised(url, f"/api/v1/query?{urlencode({'query': promql})}")
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 400:  # Prometheus says the query is wrong: the config's, not a passing fault
            raise ConfigError(
                f"ab_testing.queries: Prometheus refused {promql!r}: {exc.read().decode()}"
            ) from exc
        raise ServiceUnavailableError(f"Prometheus at {address} answered {exc.code} to {promql!r}") from exc
    except OSError as exc:
        raise ServiceUnavailableError(f"Prometheus at {address} cannot be queried: {exc}") from exc
    if body.get("status") != "success":
        raise ServiceUnavailableError(f"Prometheus refused {promql!r}: {body.get('error')}")
    return body["data"]["result"]


def read_versions(experiment: dict[str, Any]) -> dict[str, Window]:
    """Both versions' counters of an experiment now: PromQL when it names Prometheus, else the server's /metrics."""
    versions = [experiment["stable"], experiment["candidate"]]
    if experiment["prometheus_url"]:
        return read_prometheus(
            experiment["prometheus_url"], experiment["queries"], experiment["model"], versions
        )
    return read_embedded(experiment["metrics_url"], experiment["model"], versions)


def window_of(data: dict[str, Any]) -> Window:
    """A Window read back from JSON."""
    return Window(**{**data, "latency": [(float(le), float(n)) for le, n in data["latency"]]})
