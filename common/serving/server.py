"""The KServe model server process (started by common.serving.local_server, never imported by it): serves the
MLflow model named in the spec file on V1 and V2, completing customer_id-only instances from the Feast online
store. Run as: python -m common.serving.server --spec SPEC.json --http_port PORT"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import kserve
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse
from kserve.errors import InvalidInput

from common.features.engineering import derive, feature_types
from common.serving.contract import (
    BadRequestError,
    Parsed,
    contract_of,
    customer_columns,
    id_array,
    parse_instances,
)
from common.serving.headers import VERSION_HEADER, received
from common.serving.one_row import SCALAR_FAILURES, row_scorer
from common.settings import DatasetCfg, FeaturesCfg

log = logging.getLogger("common.serving.server")  # not __name__: run with -m, that is __main__


class ChurnModel(kserve.Model):
    """The champion from MLflow, its decision threshold, and the online store for id-only requests."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec["model_name"], return_response_headers=True)  # every answer names its version
        self.spec = spec
        self.ds = DatasetCfg.model_validate(spec["dataset"])
        self.fcfg = FeaturesCfg.model_validate(spec["features"])
        self.kinds = feature_types(self.fcfg, self.ds)
        self.columns = list(self.kinds)
        self.threshold = float(spec["decision_threshold"])
        self.version = str(spec["version"])
        self.contract = contract_of(self.ds, int(spec["max_batch"]), spec.get("out_of_range", "reject"))
        self.out_of_range = out_of_range_counter()
        self.model: Any = None
        self.score: Any = None
        self.scorer_kind = ""
        self.row: Any = (
            None  # the scalar path of one-customer requests (common.serving.one_row), when it agrees
        )
        self.store: Any = None
        self.feast_names: dict[str, str] = {}
        self.inference_log: Any = None
        # scoring runs here, off the event loop: a slow or failing version queues its own requests only, never
        # another version's (UC2's split) nor the server's control and metadata routes
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"score-v{self.version}")
        # a version served alone scores a small request on the event loop itself: ~0.2 ms of work, less than the
        # hop to a thread and back (the profile's largest item of ours); one of a split never does (see above)
        self.inline = True

    def load(self) -> bool:
        import mlflow

        from common.model.compiled import scorer
        from common.model.tracking import use

        use(self.spec["tracking_uri"])  # with its password from the environment
        self.model = mlflow.sklearn.load_model(self.spec["model_uri"])
        self.score, self.scorer_kind = scorer(self.model, self.columns)
        self.row = row_scorer(self.score, self.ds, self.fcfg, self.columns)
        log.info(
            "scoring %s with the %s model%s",
            self.spec["model_uri"],
            self.scorer_kind,
            ", one customer on scalars" if self.row is not None else "",
        )
        if self.spec.get("repo_config"):
            from common.features.feast_store import feast_names, open_store

            self.feast_names = feast_names(self.fcfg, self.ds)
            self.store = open_store(self.spec["repo_config"])
            self.service = self.store.get_feature_service(self.fcfg.feature_service)
        if self.inference_log is None:
            from common.serving.inference_log import schema
            from common.serving.log_sinks import open_log

            arrow = schema(self.ds.id_column, self.ds.id_type, self.kinds)
            self.inference_log = open_log(self.spec.get("inference_log") or {}, arrow)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        """At shutdown (KServe unloads the model in its SIGTERM handler): the inference log's thread writes what
        it holds before the process ends. Nothing here waits or locks: the handler may interrupt a request."""
        if self.inference_log is not None:
            self.inference_log.stop()
        super().stop()

    def retire(self) -> None:
        """After a switch away from this model (common.serving.switch): its queued requests answered, then its
        last inference-log rows written. Outside a signal handler, so it may wait."""
        self.executor.shutdown(wait=True)
        if self.inference_log is not None:
            self.inference_log.close()

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        if response_headers is not None:
            response_headers[VERSION_HEADER] = self.version
        return await self.answer(payload, self.name, self.version, received(headers))

    async def answer(self, payload: Any, name: str, version: str, since: float) -> Any:
        """The answer, scored on this version's own thread; its latency counts from `since` (the request's
        arrival), so the time spent queueing is what clients see too."""
        from common.serving.version_metrics import answer_measured

        if self.inline and _small(payload):
            return answer_measured(self, payload, name, version, since)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, answer_measured, self, payload, name, version, since)

    def _score(self, payload: Any) -> tuple[list[int | str], np.ndarray]:
        start = time.perf_counter()
        try:
            parsed = parse_instances(payload, self.contract)
            one = self._one(parsed)
            ids, features = one[:2] if one else self._features(parsed)
        except BadRequestError as exc:
            raise InvalidInput(str(exc)) from None
        for name in parsed.out_of_range:  # serving.out_of_range: accept
            self.out_of_range.labels(self.name, self.spec["version"], name).inc()
        proba = one[2] if one else self.score(features)
        if self.inference_log is not None:  # an append: the writing happens on the log's own thread
            latency_ms = (time.perf_counter() - start) * 1000
            meta = {"model_name": self.name, "model_version": self.version, "latency_ms": latency_ms}
            self.inference_log.record(features, proba, self.threshold, meta)
        return ids, proba

    def _one(self, parsed: Parsed) -> tuple[list[int | str], dict[str, list[Any]], np.ndarray] | None:
        """A lone full customer on the scalar path: its id, its features (as the log's one-row columns) and its
        probability; None for any other request, or a customer the scalar path cannot take."""
        if self.row is None or parsed.by_id or len(parsed.full) != 1:
            return None
        (customer,) = parsed.full.values()
        try:
            features = self.row.features(customer)
            proba = self.row.proba(features)
        except SCALAR_FAILURES:
            return None
        return [features[self.ds.id_column]], {k: [v] for k, v in features.items()}, np.array([proba])

    def _features(self, parsed: Parsed) -> tuple[list[int | str], dict[str, np.ndarray]]:
        """The model's features of every instance, in request order: derived here for full customers, read
        from the online store for customer_id-only ones."""
        parts = []
        if parsed.full:
            raw = customer_columns(list(parsed.full.values()), self.ds)
            parts.append((list(parsed.full), {**raw, **derive(raw, self.fcfg)}))
        if parsed.by_id:
            parts.append((list(parsed.by_id), self._online(parsed.by_id)))
        if len(parts) == 1:
            _, columns = parts[0]
        else:
            order = np.argsort(np.concatenate([positions for positions, _ in parts]), kind="stable")
            columns = {
                name: np.concatenate([c[name] for _, c in parts])[order]
                for name in [self.ds.id_column, *self.columns]
            }
        return columns[self.ds.id_column].tolist(), columns

    def _online(self, by_id: dict[int, int | str]) -> dict[str, np.ndarray]:
        """The KServe transformer pattern: features of known customers from the online store."""
        if self.store is None:
            raise BadRequestError(
                f"instances: {self.ds.id_column}-only requests need the feature store, not configured"
            )
        names = self.feast_names
        rows = [{names[self.ds.id_column]: c} for c in by_id.values()]
        found = self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
        for n, position in enumerate(by_id):
            if all(found[names[name]][n] is None for name in self.columns):
                raise BadRequestError(
                    f"instances[{position}].{self.ds.id_column}: unknown customer "
                    f"{by_id[position]!r} (not in the online store)"
                )
        columns = {
            name: np.array(found[names[name]], dtype=object if self.kinds[name] == "string" else "float64")
            for name in self.columns
        }
        return {**columns, self.ds.id_column: id_array(list(by_id.values()), self.ds)}

    def _infer_v2(self, request: InferRequest) -> InferResponse:
        columns = {i.name: i.data for i in request.inputs}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise InvalidInput(
                f"inputs: every input needs the same length, got { {k: len(v) for k, v in columns.items()} }"
            )
        rows = [{k: v[n] for k, v in columns.items()} for n in range(lengths.pop())]
        ids, proba = self._score({"instances": rows})
        pred = (proba >= self.threshold).astype(int)
        outputs = [
            InferOutput(self.ds.id_column, [len(ids)], "BYTES" if self.contract.id_text else "INT64", ids),
            InferOutput("churn_probability", [len(ids)], "FP64", proba.tolist()),
            InferOutput("prediction", [len(ids)], "INT64", pred.tolist()),
        ]
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=outputs
        )


INLINE_MAX_INSTANCES = 4  # a larger request is scored on the version's thread: the event loop stays free


def _small(payload: Any) -> bool:
    """A v1 request of a few instances (the usual online call); anything else goes to the thread."""
    instances = payload.get("instances") if isinstance(payload, dict) else None
    return isinstance(instances, list) and len(instances) <= INLINE_MAX_INSTANCES


@cache
def out_of_range_counter() -> Any:
    """Values scored although outside the declared limits (serving.out_of_range: accept), per field."""
    from prometheus_client import Counter

    return Counter(
        "mlops_serving_out_of_range_values",
        "Request values outside dataset.expectations, scored under serving.out_of_range: accept",
        ["model_name", "version", "field"],
    )


def build(spec: dict[str, Any]) -> Any:
    """The model a spec describes, not loaded yet: one version, or UC2's split of two behind the same name."""
    model = ChurnModel(spec)
    if spec.get("canary"):
        from common.serving.split import SplitModel

        canary = spec["canary"]
        candidate = ChurnModel({**spec, **canary["version_spec"]})
        model.inline = candidate.inline = False  # each version on its own thread: one never queues the other
        model = SplitModel(model, candidate, canary)
    return model


def main(argv: list[str] | None = None) -> None:
    from common.serving.app import (
        BodyLimitSetting,
        LocalModelServer,
        add_metadata_routes,
        limit_body,
        log_to_stderr,
        stamp_arrival,
    )
    from common.serving.switch import Switchable, add_switch_route

    log_to_stderr()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="the spec file written by local_server.start")
    args, _ = parser.parse_known_args(argv)  # KServe reads its own flags (--http_port) from the same argv
    spec = json.loads(Path(args.spec).read_text())
    model = build(spec)
    model.load()
    served = Switchable(model, spec, Path(args.spec).resolve(), build)
    limit = BodyLimitSetting(int(spec.get("max_body_bytes", 1 << 20)))  # a spec from before the limit
    add_metadata_routes(served)
    add_switch_route(served, Path(args.spec).parent, limit)
    limit_body(limit)
    stamp_arrival()
    server = LocalModelServer(spec["host"], http_port=int(spec["port"]), enable_grpc=False, workers=1)
    server.start([served])


if __name__ == "__main__":
    # run the module under its own name: a model switch imports it as common.serving.server, and a second copy
    # (as __main__) would hold its own classes and register its metrics twice
    from common.serving.server import main as serve

    serve()
