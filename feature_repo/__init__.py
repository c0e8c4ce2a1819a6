"""Feast declarations (definitions.py) and the Feast CLI entry (repo.py, feature_store.yaml)."""
