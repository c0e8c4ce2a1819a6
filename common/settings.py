"""The config schema: every key, its type and default. Unknown keys are errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoggingCfg(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class RetryCfg(Section):
    attempts: int = Field(3, ge=1, le=20)
    initial_wait_s: float = Field(1.0, ge=0)
    max_wait_s: float = Field(10.0, ge=0)


class WarehouseCfg(Section):
    url: str = ""
    chunk_rows: int = Field(100_000, ge=1)
    connect_timeout_s: int = Field(10, ge=1)


class SampleDataCfg(Section):
    rows: int = Field(10_000, ge=1)
    seed: int = 42


class ObjectStoreCfg(Section):
    backend: Literal["local", "s3"] = "local"
    bucket: str = "mlops"
    prefix: str = ""
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: SecretStr = SecretStr("")


class DvcCfg(Section):
    remote_url: str = ""
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: SecretStr = SecretStr("")


class RangeCfg(Section):
    min: float | None = None
    max: float | None = None


class RowCountCfg(Section):
    min: int = Field(1, ge=0)
    max: int | None = None


class ExpectationsCfg(Section):
    row_count: RowCountCfg = RowCountCfg()
    not_null: dict[str, float] = {}
    ranges: dict[str, RangeCfg] = {}
    value_sets: dict[str, list[str | int | float]] = {}
    unique: list[str] = []

    @model_validator(mode="after")
    def _mostly_is_a_share(self) -> ExpectationsCfg:
        for column, mostly in self.not_null.items():
            if not 0.0 < mostly <= 1.0:
                raise ValueError(f"not_null.{column}: mostly must be in (0, 1], got {mostly}")
        return self


class DatasetCfg(Section):
    table: str = "customers"
    id_column: str = "customer_id"
    target: str = "churn"
    timestamp: str = "event_timestamp"
    numeric: list[str] = []
    categorical: list[str] = []
    expectations: ExpectationsCfg = ExpectationsCfg()

    @property
    def columns(self) -> list[str]:
        """Every column the pipelines read, in extract order."""
        return [self.id_column, self.timestamp, *self.numeric, *self.categorical, self.target]

    @model_validator(mode="after")
    def _expectations_name_known_columns(self) -> DatasetCfg:
        known = set(self.columns)
        exp = self.expectations
        for group, names in (
            ("not_null", exp.not_null),
            ("ranges", exp.ranges),
            ("value_sets", exp.value_sets),
            ("unique", exp.unique),
        ):
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"expectations.{group} names columns not in the dataset: {unknown}")
        return self


class Settings(Section):
    workspace: str = "var"
    logging: LoggingCfg = LoggingCfg()
    retry: RetryCfg = RetryCfg()
    warehouse: WarehouseCfg = WarehouseCfg()
    sample_data: SampleDataCfg = SampleDataCfg()
    object_store: ObjectStoreCfg = ObjectStoreCfg()
    dvc: DvcCfg = DvcCfg()
    dataset: DatasetCfg = DatasetCfg()
