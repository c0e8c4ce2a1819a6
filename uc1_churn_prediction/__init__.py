"""Use case 1: churn prediction, from the warehouse to a served model."""

USE_CASE = "uc1"
