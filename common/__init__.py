"""Shared foundation of the use cases: config, workspace, storage, database, errors, retry, locking, logging."""
