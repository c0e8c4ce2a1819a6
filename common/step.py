"""StepResult: what a step produced, recorded in the workspace for later steps and lineage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class StepResult:
    step: str
    outputs: dict[str, Any] = field(default_factory=dict)  # URIs, ids, versions
    metrics: dict[str, Any] = field(default_factory=dict)
    datasets_read: list[str] = field(default_factory=list)
    datasets_written: list[str] = field(default_factory=list)
    # what the step knows of a dataset, by its URI, for lineage facets (common.lineage.events):
    # schema [{name, type}], rows, nulls {column: n}, assertions [{assertion, column, success}],
    # derived_from {column: [input columns]} (read from the step's first input)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "ok"
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
