"""OpenLineage: events from every step run (emitter, events, naming)."""
