"""Two versions behind one public model name, in the model server process (common.serving.server): the canary
split of UC2. Each request is routed whole (by its first instance's id, or a pinning header) to the stable or the
candidate version, each a model of its own, so a failing candidate fails only the requests routed to it. Every
answer names its version (a `model_version` field and a header), and Prometheus metrics are labelled by it."""

from __future__ import annotations

import time
from functools import cache
from types import SimpleNamespace
from typing import Any

import kserve
from kserve import InferRequest, InferResponse
from kserve.errors import InvalidInput

from common.serving.contract import predictions
from common.serving.routing import CANDIDATE, STABLE, arm
from common.serving.server import VERSION_HEADER

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
def ab_metrics() -> SimpleNamespace:
    """Per version: requests, errors (not a client's bad input), latency, and how the model behaves."""
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


class SplitModel(kserve.Model):
    """`stable` and `candidate` (ChurnModels) behind stable's name, split by `canary` (percent, routing,
    pin_header)."""

    def __init__(self, stable: Any, candidate: Any, canary: dict[str, Any]) -> None:
        super().__init__(stable.name, return_response_headers=True)
        self.arms = {STABLE: stable, CANDIDATE: candidate}
        self.versions = {STABLE: str(stable.spec["version"]), CANDIDATE: str(candidate.spec["version"])}
        self.percent = float(canary["percent"])
        self.routing = canary["routing"]
        self.pin = canary["pin_header"].lower()
        self.metrics = ab_metrics()
        # what the metadata routes read: the stable version's
        self.ds, self.threshold, self.scorer_kind = stable.ds, stable.threshold, ""

    def load(self) -> bool:
        for model in self.arms.values():
            model.load()
        self.scorer_kind = self.arms[STABLE].scorer_kind
        self.ready = True
        return self.ready

    def stop(self) -> None:
        for model in self.arms.values():  # each arm's inference log
            model.stop()
        super().stop()

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        side = self.route(payload, headers or {})
        model, version = self.arms[side], self.versions[side]
        labels = (self.name, version)
        start = time.perf_counter()
        try:
            if isinstance(payload, InferRequest):
                answer: Any = model._infer_v2(payload)
                proba = _v2_probabilities(answer)
            else:
                ids, proba = model._score(payload)
                answer = {
                    "predictions": predictions(ids, proba, model.threshold, self.ds.id_column),
                    "model_version": version,
                }
        except InvalidInput:  # the client's bad input, not the version's fault
            self.metrics.requests.labels(*labels).inc()
            raise
        except Exception:
            self.metrics.requests.labels(*labels).inc()
            self.metrics.errors.labels(*labels).inc()
            raise
        finally:
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
        self._observe(labels, proba, model.threshold)
        if response_headers is not None:
            response_headers[VERSION_HEADER] = version
        return answer

    def route(self, payload: Any, headers: dict[str, str]) -> str:
        pinned = headers.get(self.pin)
        for side, version in self.versions.items():
            if pinned == version:
                return side
        return arm(self._first_id(payload), self.percent, self.routing)

    def _first_id(self, payload: Any) -> object:
        key = self.ds.id_column
        if isinstance(payload, InferRequest):
            found = next((i.data for i in payload.inputs if i.name == key), None)
            return found[0] if found else None
        instances = payload.get("instances") if isinstance(payload, dict) else None
        first = instances[0] if isinstance(instances, list) and instances else None
        return first.get(key) if isinstance(first, dict) else None

    def _observe(self, labels: tuple[str, str], proba: Any, threshold: float) -> None:
        m = self.metrics
        m.requests.labels(*labels).inc()
        m.predictions.labels(*labels).inc(len(proba))
        m.positives.labels(*labels).inc(int(sum(p >= threshold for p in proba)))
        histogram = m.probability.labels(*labels)
        for p in proba:
            histogram.observe(float(p))


def _v2_probabilities(answer: InferResponse) -> list[float]:
    output = next(o for o in answer.outputs if o.name == "churn_probability")
    return list(output.data)
