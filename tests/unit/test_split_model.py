"""The canary split in the server process (common.serving.split.SplitModel) with two arms of our own making: a
candidate that breaks mid-experiment fails only the requests routed to it, each failure counts against its version,
a client's bad input counts as a request but not as an error, and stable's answers go on."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from kserve.errors import InvalidInput

from common.serving.routing import CANDIDATE, arm
from common.serving.split import SplitModel
from common.serving.version_metrics import version_metrics as ab_metrics
from common.settings import DatasetCfg


class Arm:
    """What SplitModel asks of a version (a ChurnModel's loading, scoring and threshold), scoring 0.7 for
    everyone; `broken` makes it raise as a model that failed would."""

    def __init__(self, version: str) -> None:
        self.name, self.spec, self.ds = "churn-split-test", {"version": version}, DatasetCfg()
        self.threshold, self.scorer_kind, self.broken = 0.5, "compiled", False

    def load(self) -> bool:
        return True

    def _score(self, payload: dict[str, Any]) -> tuple[list[int], np.ndarray]:
        ids = [i["customer_id"] for i in payload["instances"]]
        if any(i is None for i in ids):
            raise InvalidInput("instances[0].customer_id: missing")
        if self.broken:
            raise RuntimeError("the candidate's model broke")
        return ids, np.full(len(ids), 0.7)


def _count(metric: Any, version: str) -> float:
    return metric.labels("churn-split-test", version)._value.get()


def test_a_candidate_that_breaks_fails_only_its_own_requests_and_each_failure_counts_against_it() -> None:
    stable, candidate = Arm("1"), Arm("2")
    model = SplitModel(
        stable, candidate, {"percent": 30, "routing": "sticky", "pin_header": "X-Model-Version"}
    )
    model.load()
    m = ab_metrics()
    before = {v: (_count(m.requests, v), _count(m.errors, v)) for v in ("1", "2")}
    candidate.broken = True  # mid-experiment
    answered, failed = [], []
    for customer in range(1, 301):
        headers: dict[str, str] = {}
        try:
            answer = asyncio.run(model.predict({"instances": [{"customer_id": customer}]}, {}, headers))
        except RuntimeError:
            failed.append(customer)
            continue
        assert answer["model_version"] == headers["x-model-version"] == "1"
        answered.append(customer)
    assert failed == [c for c in range(1, 301) if arm(c, 30, "sticky") == CANDIDATE] and answered
    assert _count(m.errors, "2") - before["2"][1] == len(failed)
    assert _count(m.requests, "2") - before["2"][0] == len(failed)
    assert _count(m.errors, "1") == before["1"][1]  # stable never failed
    assert _count(m.requests, "1") - before["1"][0] == len(answered)
    assert _count(m.positives, "1") >= len(answered)  # 0.7 over a 0.5 threshold


def test_a_clients_bad_input_is_a_request_but_not_the_versions_error_and_a_header_pins() -> None:
    model = SplitModel(
        Arm("1"), Arm("2"), {"percent": 0.01, "routing": "sticky", "pin_header": "x-model-version"}
    )
    m = ab_metrics()
    errors, requests = _count(m.errors, "2"), _count(m.requests, "2")
    with pytest.raises(InvalidInput):
        asyncio.run(model.predict({"instances": [{"customer_id": None}]}, {"x-model-version": "2"}, {}))
    assert (_count(m.errors, "2"), _count(m.requests, "2")) == (errors, requests + 1)
    headers: dict[str, str] = {}
    asyncio.run(model.predict({"instances": [{"customer_id": 5}]}, {"x-model-version": "2"}, headers))
    assert headers["x-model-version"] == "2"
