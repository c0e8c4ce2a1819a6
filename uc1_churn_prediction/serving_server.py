"""The KServe model server process (started by step 06, never imported by it): serves the MLflow model named in
the spec file ($MLOPS_SERVING_SPEC) on V1 and V2, completing customer_id-only instances from the Feast online
store. Run as: python -m uc1_churn_prediction.serving_server --http_port PORT"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import kserve
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse
from kserve.errors import InvalidInput

from common.settings import DatasetCfg, FeaturesCfg
from uc1_churn_prediction.features import derive, feature_types
from uc1_churn_prediction.serving import (
    BadRequestError,
    Parsed,
    customer_columns,
    parse_instances,
    predictions,
)

log = logging.getLogger("uc1_churn_prediction.serving_server")  # not __name__: run with -m, that is __main__


class ChurnModel(kserve.Model):
    """The champion from MLflow, its decision threshold, and the online store for id-only requests."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec["model_name"])
        self.spec = spec
        self.ds = DatasetCfg.model_validate(spec["dataset"])
        self.fcfg = FeaturesCfg.model_validate(spec["features"])
        self.kinds = feature_types(self.fcfg, self.ds)
        self.columns = list(self.kinds)
        self.threshold = float(spec["decision_threshold"])
        self.model: Any = None
        self.score: Any = None
        self.scorer_kind = ""
        self.store: Any = None

    def load(self) -> bool:
        import mlflow

        from uc1_churn_prediction.compiled_model import scorer

        mlflow.set_tracking_uri(self.spec["tracking_uri"])
        self.model = mlflow.sklearn.load_model(self.spec["model_uri"])
        self.score, self.scorer_kind = scorer(self.model, self.columns)
        log.info("scoring %s with the %s model", self.spec["model_uri"], self.scorer_kind)
        if self.spec.get("repo_config"):
            from uc1_churn_prediction.feast_store import open_store

            self.store = open_store(self.spec["repo_config"])
            self.service = self.store.get_feature_service(self.fcfg.feature_service)
        self.ready = True
        return self.ready

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        if isinstance(payload, InferRequest):
            return self._infer_v2(payload)
        ids, proba = self._score(payload)
        return {"predictions": predictions(ids, proba, self.threshold)}

    def _score(self, payload: Any) -> tuple[list[int], np.ndarray]:
        try:
            parsed = parse_instances(payload, self.ds, int(self.spec["max_batch"]))
            ids, features = self._features(parsed)
        except BadRequestError as exc:
            raise InvalidInput(str(exc)) from None
        return ids, self.score(features)

    def _features(self, parsed: Parsed) -> tuple[list[int], dict[str, np.ndarray]]:
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

    def _online(self, by_id: dict[int, int]) -> dict[str, np.ndarray]:
        """The KServe transformer pattern: features of known customers from the online store."""
        if self.store is None:
            raise BadRequestError(
                "instances: customer_id-only requests need the feature store, not configured"
            )
        rows = [{self.ds.id_column: c} for c in by_id.values()]
        found = self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
        for n, position in enumerate(by_id):
            if all(found[name][n] is None for name in self.columns):
                raise BadRequestError(
                    f"instances[{position}].{self.ds.id_column}: unknown customer "
                    f"{by_id[position]} (not in the online store)"
                )
        columns = {
            name: np.array(found[name], dtype=object if self.kinds[name] == "string" else "float64")
            for name in self.columns
        }
        return {**columns, self.ds.id_column: np.array(list(by_id.values()), dtype="int64")}

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
            InferOutput("customer_id", [len(ids)], "INT64", ids),
            InferOutput("churn_probability", [len(ids)], "FP64", proba.tolist()),
            InferOutput("prediction", [len(ids)], "INT64", pred.tolist()),
        ]
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=outputs
        )


def add_metadata_routes(model: ChurnModel) -> None:
    """KServe's own metadata answers omit the version; ours come first and show the MLflow version and alias."""
    from kserve.model_server import app

    spec = model.spec
    about = {
        "name": model.name,
        "mlflow_model": spec["registered_model"],
        "version": spec["version"],
        "alias": spec["alias"],
        "model_uri": spec["model_uri"],
        "decision_threshold": model.threshold,
        "scorer": model.scorer_kind,  # "compiled" (NumPy, checked against the pipeline at load) or "pipeline"
    }

    def v1() -> dict[str, Any]:
        return {**about, "ready": model.ready}

    def v2() -> dict[str, Any]:
        return {
            **about,
            "versions": [spec["version"]],
            "platform": "mlflow_sklearn",
            "inputs": [
                {"name": c, "datatype": "BYTES" if c in model.ds.categorical else "FP64", "shape": [-1]}
                for c in [model.ds.id_column, *model.ds.numeric, *model.ds.categorical]
            ],
            "outputs": [
                {"name": n, "datatype": t, "shape": [-1]}
                for n, t in (("customer_id", "INT64"), ("churn_probability", "FP64"), ("prediction", "INT64"))
            ],
        }

    app.add_api_route(f"/v1/models/{model.name}", v1, methods=["GET"])
    app.add_api_route(f"/v2/models/{model.name}", v2, methods=["GET"])


def _log_to_stderr() -> None:
    """Our loggers to stderr (server.log), as KServe's are; it configures only its own, after load()."""
    from common.log import FORMAT
    from common.redact import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    for name in ("common", "uc1_churn_prediction"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # KServe 0.21 answers with FastAPI's ORJSONResponse, which warns on every route's first call: not ours to fix
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")


def main() -> None:
    _log_to_stderr()
    spec = json.loads(Path(os.environ["MLOPS_SERVING_SPEC"]).read_text())
    model = ChurnModel(spec)
    model.load()
    add_metadata_routes(model)
    kserve.ModelServer(http_port=int(spec["port"]), enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
