"""UC1 churn prediction: run the steps in order in one process (01 extract, 02 version, 03 validate,
04 features, 05 train + gate, 06 serve, 07 batch scores), each with transient-only retries; the first permanent
failure stops the pipeline and sets the exit code."""

from __future__ import annotations

from common.cli import base_parser, execute
from common.pipeline import Outcome, run_pipeline, summary
from common.settings import Settings
from common.workspace import Workspace
from uc1_churn_prediction import USE_CASE

STEPS = [
    "uc1_01_data_ingestion_postgres",
    "uc1_02_data_versioning_dvc",
    "uc1_03_data_validation_ge",
    "uc1_04_feature_engineering_feast",
    "uc1_05_model_training_kubeflow",
    "uc1_06_model_serving_kserve",
    "uc1_07_batch_scoring_mlflow",
]


def run(cfg: Settings, ws: Workspace) -> list[Outcome]:
    return run_pipeline("uc1_churn_prediction", STEPS, cfg, ws)


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__ or USE_CASE).parse_args(argv)
    body = lambda cfg, ws: summary(USE_CASE, run(cfg, ws))  # noqa: E731
    return execute(
        f"{USE_CASE}_pipeline", USE_CASE, args, body, recorded_as=("pipeline", "uc1_churn_prediction")
    )


if __name__ == "__main__":
    raise SystemExit(main())
