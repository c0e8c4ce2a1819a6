"""Declared parsing of warehouse values, pure and chunk by chunk: numbers stored as text (blank means missing) and
text labels mapped to 1/0. Each parser counts what it did, so nothing is dropped unseen, and lists what it could
not parse, so the extract fails naming the column, the count and examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from common.settings import fold_label

EXAMPLES = 5


@dataclass
class TextNumbers:
    """`dataset.parse_numbers.<column>: blank_as_null`: blank or whitespace-only text is missing; any other text
    that is not a number is a failure."""

    column: str
    rows: int = 0
    null: int = 0  # null in the warehouse
    blank: int = 0  # blank text, now null
    not_numbers: int = 0
    examples: list[Any] = field(default_factory=list)

    def parse(self, values: pd.Series) -> pd.Series:
        """float64, NaN for missing; non-numbers are counted (and left NaN: the extract fails on them)."""
        self.rows += len(values)
        self.null += int(values.isna().sum())
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        text = values.astype("string").str.strip()
        blank = text.eq("").fillna(False)
        self.blank += int(blank.sum())
        numbers = pd.to_numeric(text.mask(blank), errors="coerce").astype("float64")
        bad = numbers.isna() & text.notna() & ~blank
        if bad.any():
            self.not_numbers += int(bad.sum())
            self._remember(values[bad])
        return numbers

    def _remember(self, bad: pd.Series) -> None:
        for value in bad.drop_duplicates().tolist():
            if len(self.examples) == EXAMPLES:
                return
            if value not in self.examples:
                self.examples.append(value)

    def problem(self) -> str | None:
        if not self.not_numbers:
            return None
        return (
            f"column {self.column}: {self.not_numbers} value(s) are not numbers, e.g. {self.examples} "
            f"(dataset.parse_numbers.{self.column}: blank_as_null makes only blank text missing)"
        )

    def report(self) -> dict[str, Any]:
        return {
            "rule": "blank_as_null",
            "rows": self.rows,
            "null_before": self.null,
            "blank_to_null": self.blank,
            "null_after": self.null + self.blank + self.not_numbers,
            "not_numbers": self.not_numbers,
            "examples": self.examples,
        }


@dataclass
class TextLabels:
    """`dataset.positive_label` / `negative_labels`: the target as 1/0, compared without case or surrounding
    spaces; a value that is neither is a failure naming it."""

    column: str
    positive: str
    negatives: list[str]
    counts: Counter[str] = field(default_factory=Counter)  # 1, 0, null
    unknown: Counter[str] = field(default_factory=Counter)  # value as the warehouse has it -> rows

    def parse(self, values: pd.Series) -> pd.Series:
        """Int64: 1, 0, or <NA> for null (the not_null expectation judges those)."""
        text = values.astype("string").str.strip().str.casefold()
        ones = text.eq(fold_label(self.positive)).fillna(False)
        zeros = text.isin([fold_label(v) for v in self.negatives]).fillna(False)
        other = text.notna() & ~ones & ~zeros
        self.counts.update({"1": int(ones.sum()), "0": int(zeros.sum()), "null": int(text.isna().sum())})
        if other.any():
            self.unknown.update(values[other].astype(str).value_counts().to_dict())
        out = pd.Series(pd.NA, index=values.index, dtype="Int64")
        out[ones] = 1
        out[zeros] = 0
        return out

    def problem(self) -> str | None:
        if not self.unknown:
            return None
        shown = dict(self.unknown.most_common(EXAMPLES))
        return (
            f"column {self.column}: {sum(self.unknown.values())} value(s) are neither the positive label "
            f"{self.positive!r} nor a negative one {self.negatives}: {shown} "
            "(dataset.positive_label, dataset.negative_labels)"
        )

    def report(self) -> dict[str, Any]:
        return {
            "positive_label": self.positive,
            "negative_labels": self.negatives,
            "to_1": self.counts["1"],
            "to_0": self.counts["0"],
            "null": self.counts["null"],
            "other": dict(self.unknown),
        }
