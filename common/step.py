"""StepResult: what a step produced, recorded in the workspace for later steps and lineage; and Outputs, the base
of the typed record of what a later step reads from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self


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

    @property
    def reason(self) -> str:
        """Why a skipped step did nothing (every skipped result says why, in outputs["reason"])."""
        return str(self.outputs.get("reason", ""))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Outputs:
    """The part of a step's outputs that other steps read, as a frozen dataclass declared beside the step that
    writes it: the writer spreads `dump()` into its outputs, a reader takes `of(result)`. A field with a default
    is one that records made before it existed may lack."""

    @classmethod
    def of(cls, result: StepResult) -> Self:
        """The record in `result`'s outputs; MissingInputError naming the step and the keys it did not record."""
        from common.errors import MissingInputError

        names = [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in required if n not in result.outputs]
        if missing:
            raise MissingInputError(
                f"{result.step} recorded no {', '.join(missing)} ({cls.__name__}): run {result.step}.py again"
            )
        return cls(**{n: result.outputs[n] for n in names if n in result.outputs})

    def dump(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
