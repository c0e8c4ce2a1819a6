"""Two versions behind one public model name, in the model server process (common.serving.server): the canary
split of UC2. Each request is routed whole (by its first instance's id, or a pinning header) to the stable or the
candidate version, each a model of its own, so a failing candidate fails only the requests routed to it. Every
answer names its version (a `model_version` field and a header), and Prometheus metrics are labelled by it.
In shadow mode the stable version answers every request and the candidate scores a mirror of it, unseen."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kserve
from kserve import InferRequest

from common.serving.headers import VERSION_HEADER, received
from common.serving.routing import CANDIDATE, STABLE, arm

log = logging.getLogger("common.serving.split")
MAX_MIRRORED = 1000  # shadow scorings waiting at once; past this a request is not mirrored (a slow shadow
# would otherwise hold every request it has not scored yet in memory)


class SplitModel(kserve.Model):
    """`stable` and `candidate` (ChurnModels) behind stable's name, split by `canary` (percent, routing,
    pin_header)."""

    def __init__(self, stable: Any, candidate: Any, canary: dict[str, Any]) -> None:
        super().__init__(stable.name, return_response_headers=True)
        self.arms = {STABLE: stable, CANDIDATE: candidate}
        self.versions = {STABLE: str(stable.spec["version"]), CANDIDATE: str(candidate.spec["version"])}
        self.shadow = canary.get("mode") == "shadow"  # a spec from before the mode split traffic
        self.mirrored: set[Any] = set()  # the shadow's pending scorings, held until done
        self.percent = float(canary["percent"])
        self.routing = canary["routing"]
        self.pin = canary["pin_header"].lower()
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

    def retire(self) -> None:
        for model in self.arms.values():
            model.retire()

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        side = self.route(payload, headers or {})
        if response_headers is not None:
            response_headers[VERSION_HEADER] = self.versions[side]
        since = received(headers)
        if self.shadow and side == STABLE:
            self._mirror(payload, since)
        # each arm scores on its own thread: a slow candidate queues its own share, not the stable one's
        return await self.arms[side].answer(payload, self.name, self.versions[side], since)

    def _mirror(self, payload: Any, since: float) -> None:
        """Shadow mode: the candidate scores the same request on its own thread, and nobody waits for it. Its
        metrics and inference-log rows carry its version; a failure is counted there, never seen by the caller."""
        if len(self.mirrored) >= MAX_MIRRORED:  # fewer paired customers, never a slower answer
            return
        task = asyncio.ensure_future(self._shadow(payload, since))
        self.mirrored.add(task)  # a task nobody holds may be collected before it runs
        task.add_done_callback(self.mirrored.discard)

    async def _shadow(self, payload: Any, since: float) -> None:
        try:
            await self.arms[CANDIDATE].answer(payload, self.name, self.versions[CANDIDATE], since)
        except Exception:
            log.debug("the shadow version %s failed a request", self.versions[CANDIDATE], exc_info=True)

    def route(self, payload: Any, headers: dict[str, str]) -> str:
        pinned = headers.get(self.pin)
        for side, version in self.versions.items():
            if pinned == version:
                return side
        if self.shadow:  # only the stable version answers
            return STABLE
        return arm(self._first_id(payload), self.percent, self.routing)

    def _first_id(self, payload: Any) -> object:
        key = self.ds.id_column
        if isinstance(payload, InferRequest):
            found = next((i.data for i in payload.inputs if i.name == key), None)
            return found[0] if found else None
        instances = payload.get("instances") if isinstance(payload, dict) else None
        first = instances[0] if isinstance(instances, list) and instances else None
        return first.get(key) if isinstance(first, dict) else None
