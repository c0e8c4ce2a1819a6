"""The canary split in the server process (common.serving.split.SplitModel) with two arms of our own making: a
candidate that breaks mid-experiment fails only the requests routed to it, each failure counts against its version,
a client's bad input counts as a request but not as an error, and stable's answers go on; a slow candidate does not
slow the stable version's clients."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from kserve.errors import InvalidInput

from common.serving.routing import CANDIDATE, STABLE, arm
from common.serving.server import ChurnModel
from common.serving.split import SplitModel
from common.serving.version_metrics import version_metrics as ab_metrics
from common.settings import DatasetCfg


class Arm:
    """What SplitModel asks of a version (a ChurnModel's loading, scoring and threshold), scoring 0.7 for
    everyone; `broken` makes it raise as a model that failed would."""

    def __init__(self, version: str) -> None:
        self.name, self.spec, self.ds = "churn-split-test", {"version": version}, DatasetCfg()
        self.threshold, self.scorer_kind, self.broken, self.seconds = 0.5, "compiled", False, 0.0
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.inline = False  # as server.build makes the arms of a split: each on its own thread
        self.threads: list[str] = []

    answer = ChurnModel.answer  # the server's own: scoring on the version's thread, timed from arrival

    def load(self) -> bool:
        return True

    def _score(self, payload: dict[str, Any]) -> tuple[list[int], np.ndarray]:
        ids = [i["customer_id"] for i in payload["instances"]]
        if any(i is None for i in ids):
            raise InvalidInput("instances[0].customer_id: missing")
        if self.broken:
            raise RuntimeError("the candidate's model broke")
        time.sleep(self.seconds)  # the work a model does, holding its thread
        self.threads.append(threading.current_thread().name)
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


def _stable_p95(candidate_seconds: float) -> float:
    """The stable version's client-side p95 (ms) under a steady load split 50/50, each request timed from when
    the client sent it, while the candidate takes `candidate_seconds` a request."""
    stable, candidate = Arm("1"), Arm("2")
    stable.seconds, candidate.seconds = 0.002, candidate_seconds
    model = SplitModel(
        stable, candidate, {"percent": 50, "routing": "sticky", "pin_header": "x-model-version"}
    )

    async def client(customer: int, took: list[float], sent: float) -> None:
        await model.predict({"instances": [{"customer_id": customer}]}, {}, {})
        took.append((time.perf_counter() - sent) * 1000)

    async def load() -> list[float]:
        """Clients that send on their own clock (every 10 ms, alternating versions): a request's time counts
        from when it was due, so any wait for the server, on the loop or in a queue, is in it."""
        took: list[float] = []
        stable_ones = iter([c for c in range(1, 2000) if arm(c, 50, "sticky") == STABLE])
        candidate_ones = iter([c for c in range(1, 2000) if arm(c, 50, "sticky") == CANDIDATE])
        tasks, others, start = [], [], time.perf_counter()
        for n in range(120):
            due = start + n * 0.01
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if n % 2:
                tasks.append(asyncio.create_task(client(next(stable_ones), took, due)))
            else:
                others.append(asyncio.create_task(client(next(candidate_ones), [], due)))
        await asyncio.gather(*tasks)
        for task in others:  # the slow candidate's backlog: not waited for
            task.cancel()
        return took

    gc.collect()
    gc.disable()  # a collection of what earlier tests left is not what this measures
    try:
        took = sorted(asyncio.run(load()))
    finally:
        gc.enable()
    return took[int(len(took) * 0.95) - 1]


def test_a_challenger_120_ms_slower_leaves_the_stable_clients_p95_where_it_was() -> None:
    baseline = _stable_p95(0.002)
    slowed = _stable_p95(0.122)
    assert slowed - baseline < 10, (baseline, slowed)


def test_a_lone_version_scores_a_small_request_on_the_loop_and_a_large_one_on_its_thread() -> None:
    """Alone, a version answers a one-customer request without the hop to its thread (cheaper than the work);
    a request of many customers still goes to the thread, so the event loop stays free meanwhile."""
    from common.serving.server import INLINE_MAX_INSTANCES

    lone = Arm("1")
    lone.inline = True
    small = {"instances": [{"customer_id": 1}]}
    large = {"instances": [{"customer_id": i} for i in range(INLINE_MAX_INSTANCES + 1)]}

    async def both() -> None:
        await lone.answer(small, lone.name, "1", time.perf_counter())
        await lone.answer(large, lone.name, "1", time.perf_counter())

    asyncio.run(both())
    assert lone.threads == ["MainThread", lone.threads[1]] and lone.threads[1] != "MainThread"


def test_the_versions_of_a_split_never_score_on_the_loop() -> None:
    from common.serving.server import build

    spec = {
        "model_name": "churn-split-test",
        "version": "1",
        "dataset": {},
        "features": {},
        "decision_threshold": 0.5,
        "max_batch": 10,
        "canary": {
            "percent": 10,
            "routing": "sticky",
            "pin_header": "x-model-version",
            "version_spec": {"version": "2"},
        },
    }
    split = build(spec)
    assert [arm.inline for arm in split.arms.values()] == [False, False]
    assert build({**spec, "canary": None}).inline is True


def test_in_shadow_mode_the_stable_answers_everyone_and_a_broken_shadow_costs_no_caller_anything() -> None:
    """Every request is answered by the stable version and mirrored to the candidate, whose failures count
    against it only; past MAX_MIRRORED pending scorings a request is answered but not mirrored (a stuck shadow
    holds no more)."""
    from common.serving import split

    # versions of its own: a metric label no other test of this process counts under (the p95 test leaves its
    # slow candidate's backlog running on its thread, and those requests count when they finish)
    stable, candidate = Arm("41"), Arm("42")
    canary = {"mode": "shadow", "percent": 30, "routing": "sticky", "pin_header": "x-model-version"}
    model = SplitModel(stable, candidate, canary)
    m = ab_metrics()
    before = _count(m.requests, "42"), _count(m.errors, "42")
    candidate.broken = True

    async def calls(n: int) -> list[str]:
        said = []
        for customer in range(1, n + 1):
            headers: dict[str, str] = {}
            answer = await model.predict({"instances": [{"customer_id": customer}]}, {}, headers)
            said.append(f"{answer['model_version']}{headers['x-model-version']}")
        while model.mirrored:  # the mirrors finish after their answers
            await asyncio.sleep(0.01)
        return said

    assert asyncio.run(calls(50)) == ["4141"] * 50
    assert (_count(m.requests, "42") - before[0], _count(m.errors, "42") - before[1]) == (50, 50)

    async def capped() -> int:
        model.mirrored = {asyncio.ensure_future(asyncio.sleep(5)) for _ in range(split.MAX_MIRRORED)}
        held = len(model.mirrored)
        await model.predict({"instances": [{"customer_id": 7}]}, {}, {})
        grown = len(model.mirrored) - held
        for task in model.mirrored:
            task.cancel()
        return grown

    assert asyncio.run(capped()) == 0
