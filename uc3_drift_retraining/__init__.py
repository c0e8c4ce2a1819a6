"""UC3: drift detection and retraining."""

USE_CASE = "uc3"
