"""Models: training, the evaluation gate, the MLflow registry, the compiled scorer, the Kubeflow pipeline."""
