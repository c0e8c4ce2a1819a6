"""Prometheus metrics by model version, in the model server process: requests, errors (not a client's bad input),
latency, and how the model behaves (probabilities, positives). One version served alone counts them as a canary
split does, so the dashboards and UC2's experiment read the same series (`mlops_ab_*`) either way."""

from __future__ import annotations

import time
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
from kserve import InferRequest, InferResponse  # only the server process imports this module
from kserve.errors import InvalidInput

from common.serving.contract import predictions

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)  # the objectives' limits
PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


@cache
def version_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    labels = ["model_name", "version"]
    return SimpleNamespace(
        requests=Counter("mlops_ab_requests", "Requests answered or failed, by version", labels),
        errors=Counter("mlops_ab_errors", "Requests the version failed (server errors)", labels),
        latency=Histogram(
            "mlops_ab_request_seconds", "Time to answer, by version", labels, buckets=LATENCY_BUCKETS
        ),
        probability=Histogram(
            "mlops_ab_churn_probability", "Churn probabilities returned", labels, buckets=PROBABILITY_BUCKETS
        ),
        predictions=Counter("mlops_ab_predictions", "Customers scored", labels),
        positives=Counter("mlops_ab_positive_predictions", "Customers predicted to churn", labels),
    )


def answer_measured(model: Any, payload: Any, name: str, version: str, since: float | None = None) -> Any:
    """`model`'s answer to the request (a ChurnModel: v1 JSON or an Open Inference Protocol request), counted
    under (name, version); its latency from `since` (the request's arrival: queueing included), else from now."""
    metrics = version_series(name, version)
    start = time.perf_counter() if since is None else since
    try:
        if isinstance(payload, InferRequest):
            answer: Any = model._infer_v2(payload)
            proba = _v2_probabilities(answer)
        else:
            ids, proba = model._score(payload)
            answer = {
                "predictions": predictions(ids, proba, model.threshold, model.ds.id_column),
                "model_version": version,
            }
    except InvalidInput:  # the client's bad input, not the version's fault
        metrics.requests.inc()
        raise
    except Exception:
        metrics.requests.inc()
        metrics.errors.inc()
        raise
    finally:
        metrics.latency.observe(time.perf_counter() - start)
    _observe(metrics, proba, model.threshold)
    return answer


@cache
def version_series(name: str, version: str) -> SimpleNamespace:
    """One version's series (the labelled children), looked up once rather than on every request. Made on the
    first request, errors included, so an error ratio reads 0, not nothing."""
    metrics = version_metrics()
    return SimpleNamespace(**{key: family.labels(name, version) for key, family in vars(metrics).items()})


def _observe(m: SimpleNamespace, proba: Any, threshold: float) -> None:
    # Python floats: no NumPy call per row
    values = proba.tolist() if isinstance(proba, np.ndarray) else list(proba)
    m.requests.inc()
    m.predictions.inc(len(values))
    m.positives.inc(sum(p >= threshold for p in values))
    for p in values:
        m.probability.observe(p)


def _v2_probabilities(answer: InferResponse) -> list[float]:
    output = next(o for o in answer.outputs if o.name == "churn_probability")
    return list(output.data)
