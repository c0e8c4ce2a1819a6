"""Use case 4: data lineage, from the warehouse table to the model version answering requests."""

USE_CASE = "uc4"
