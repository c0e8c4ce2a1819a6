"""Drift (UC3): the inference log's window, the champion's reference, Evidently's comparisons, the decision."""
