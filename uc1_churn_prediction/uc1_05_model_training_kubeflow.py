"""Step 05: train the candidates in a Kubeflow Pipelines v2 pipeline (Feast point-in-time training set, k-fold CV,
holdout evaluation, MLflow runs under one parent, evaluation gate, registry with challenger / champion aliases).
Locally it runs with kfp.local's SubprocessRunner; with kubeflow.host set it is compiled and submitted.
A model that fails the gate exits 4, listing every unmet threshold; nothing is registered or promoted."""

from __future__ import annotations

from common.chain import TRAIN as STEP
from common.chain.train import run
from common.cli import step_script
from uc1_churn_prediction import USE_CASE

ROLE = "train"  # what shared code asks this step for (common.usecases.step_for)

# the shared chain's step (common/chain/train.py), also run by UC3
main = step_script(STEP, __doc__, USE_CASE, run)


if __name__ == "__main__":
    raise SystemExit(main())
