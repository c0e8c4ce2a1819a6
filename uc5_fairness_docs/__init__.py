"""UC5: fairness analysis and the model card."""

USE_CASE = "uc5"
