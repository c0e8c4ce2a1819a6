"""What a later step reads of a step of the chain (UC1's steps, which UC3's retrain runs again): one frozen record
per step, which the step spreads into its outputs (`dump()`) and a reader takes back with `of(result)`. They live
together here, apart from the steps' modules and their imports, so that a reader anywhere (UC2's replay, UC3's
drift, UC5's fairness) imports a record and nothing else, and no import circle forms through them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.step import Outputs


@dataclass(frozen=True)
class Extracted(Outputs):
    """Of an extract (common.chain.extract), what versioning reads: where it is, its key in the object store, its
    sha256, and the table it came from."""

    uri: str
    key: str
    sha256: str
    source: str


@dataclass(frozen=True)
class Versioned(Outputs):
    """Of a data version (common.chain.version): its tag, the file in the data registry, and DVC's md5 of it (none
    in a record made before the md5 was kept)."""

    tag: str
    path: str
    md5: str = ""


@dataclass(frozen=True)
class Validated(Outputs):
    """Of validated data (common.chain.validate): its data version, the file, and the id column's type (integers
    in a record made before text ids)."""

    tag: str
    path: str
    id_type: str = "int"


@dataclass(frozen=True)
class Features(Outputs):
    """Of the features (common.chain.features), what training reads: the data version they were built from, its
    file, and the Feast repo config to read them back with."""

    data_tag: str
    data_path: str
    repo_config: dict[str, Any]


@dataclass(frozen=True)
class Trained(Outputs):
    """Of a training (common.chain.train), what a retrain reads: the version it registered (or had registered,
    when skipped), that version's aliases and the gate's reasons, and why nothing was trained (skipped only)."""

    version: str
    aliases: list[str]
    reasons: list[str]
    reason: str = ""


@dataclass(frozen=True)
class Scored(Outputs):
    """Of the batch scores (common.chain.batch), what a refresh compares: which version scored which data version
    (none in a skipped run's record)."""

    model_version: str | None = None
    data_version: str | None = None
