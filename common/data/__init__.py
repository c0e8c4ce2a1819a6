"""Data: the warehouse, the extract schema, the object store, the DVC data registry, expectations, sample data."""
