"""Declared parsing of warehouse values, pure and chunk by chunk: numbers stored as text (blank means missing) and
text labels mapped to 1/0. Each parser counts what it did, so nothing is dropped unseen, and lists what it could
not parse, so the extract fails naming the column, the count and examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
        present = values.notna()
        self.null += len(values) - int(present.sum())
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        # to_numeric reads numbers with surrounding spaces; only what it cannot read is looked at as text
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        unread = values[numbers.isna() & present]
        if len(unread):
            blank = unread.astype(str).str.strip().eq("")
            self.blank += int(blank.sum())
            bad = unread[~blank]
            if len(bad):
                self.not_numbers += len(bad)
                self._remember(bad)
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


def number_from_text(text: str) -> float | None:
    """One value by TextNumbers' rule (the model server reads a request with it): blank or whitespace-only text
    is missing, a number with surrounding spaces is that number; anything else raises ValueError."""
    if not text.strip():
        return None
    value = pd.to_numeric(text, errors="coerce")
    if pd.isna(value):
        raise ValueError(f"{text!r} is not a number")
    return float(value)


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
        # a label column holds a few distinct values: fold each once, not once per row
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        negatives = {fold_label(v) for v in self.negatives}
        folded = [fold_label(u) for u in uniques]
        label = np.array(
            [1 if f == fold_label(self.positive) else 0 if f in negatives else -1 for f in folded],
            dtype="int64",
        )
        known = np.append(label, -2)[codes]  # code -1 (null) reads the appended -2
        counts = np.bincount(known + 2, minlength=4)  # -2 null, -1 other, 0, 1
        self.counts.update({"1": int(counts[3]), "0": int(counts[2]), "null": int(counts[0])})
        if counts[1]:
            self.unknown.update(values[known == -1].astype(str).value_counts().to_dict())
        out = pd.array(known, dtype="Int64")
        return pd.Series(out, index=values.index).mask(known < 0)

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
