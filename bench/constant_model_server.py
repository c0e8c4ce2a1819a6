"""KServe's own ceiling on this machine, for bench_serving.py: the same ModelServer (one worker, no gRPC) serving
a model whose predict returns a constant answer of our response's shape. Whatever our server is slower than this
is our own work per request.

    python bench/constant_model_server.py --http_port PORT
"""

from __future__ import annotations

from typing import Any

import kserve  # reads --http_port from this process's argv

ANSWER = {"predictions": [{"customer_id": 7, "churn_probability": 0.5, "prediction": 1, "confidence": 0.5}]}


class ConstantModel(kserve.Model):
    def __init__(self) -> None:
        super().__init__("churn-predictor")
        self.ready = True

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        return ANSWER


if __name__ == "__main__":
    kserve.ModelServer(enable_grpc=False, workers=1).start([ConstantModel()])
