"""The config schema: every key, its type and default. Unknown keys are errors."""

from __future__ import annotations

import numbers
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from common import defaults


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _web_url(value: str) -> str:
    """Empty, or an http(s) URL with a host (a credential in it is registered for redaction, common.config)."""
    from urllib.parse import urlsplit

    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host (e.g. http://host:port)")
    return value


def _no_credentials(value: str) -> str:
    """A URL that is committed or published (the deployment repo's address, in its Application) holds no
    credentials: an https user part is often a token; ssh's user (git@) is not a secret."""
    from urllib.parse import urlsplit

    parts = urlsplit(value) if "://" in value else None
    if parts and (parts.password or (parts.username and parts.scheme in ("http", "https"))):
        raise ValueError(
            "the URL holds credentials, and it is committed to the deployment repo: give them in "
            "GITOPS_USERNAME and GITOPS_TOKEN instead"
        )
    return value


WebUrl = Annotated[str, AfterValidator(_web_url)]
CommittedUrl = Annotated[str, AfterValidator(_no_credentials)]
# every key that holds a URL: one with credentials in it is registered for redaction (common.config), so its
# password never reaches a log, a summary, a state file or a report; tests check that the list is complete
URL_KEYS = (
    "warehouse.url",
    "object_store.endpoint_url",
    "dvc.remote_url",
    "dvc.endpoint_url",
    "mlflow.tracking_uri",
    "kubeflow.host",
    "ab_testing.prometheus_url",
    "drift.pushgateway_url",
    "lineage.url",
    "features.registry_url",
    "gitops.repo_url",
    "gitops.argocd.url",
    "gitops.argocd.repo_url",
    "monitoring.pushgateway_url",
)


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
    enabled: bool = True  # false: a missing table in the embedded warehouse is an error, not seeded
    rows: int = Field(10_000, ge=1)
    seed: int = 42
    bias: Literal["gender"] | None = None  # gender: churn depends on it (a biased model for UC5's checks)


class ObjectStoreCfg(Section):
    backend: Literal["local", "s3"] = "local"
    bucket: str = "mlops"
    prefix: str = ""
    endpoint_url: WebUrl = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: SecretStr = SecretStr("")


class DvcCfg(Section):
    remote_url: str = ""
    endpoint_url: WebUrl = ""
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


# the fields beside the id in each prediction the server answers
ANSWER_FIELDS = ("churn_probability", "prediction", "confidence")
# the time column of an extract when the table has none (dataset.timestamp: null)
EXTRACTED_AT = "extracted_at"


class DatasetCfg(Section):
    """The customers table: column names exactly as the warehouse has them (any case, spaces, reserved words)."""

    table: str = Field("customers", pattern=r"^[^/\\\x00]+$")  # also in file names: no path separators
    id_column: str = "customer_id"
    id_type: Literal["auto", "int", "str"] = "auto"  # auto: the warehouse column's type decides
    target: str = "churn"
    positive_label: str | None = None  # a text target: this value is 1 ...
    negative_labels: list[str] = []  # ... these are 0, anything else fails validation
    timestamp: str | None = "event_timestamp"  # null: every row is stamped with the extraction time (UTC)
    numeric: list[str] = []
    categorical: list[str] = []
    # columns kept with every row but never model inputs: a sensitive attribute UC5 groups by, say
    attributes: list[str] = []
    parse_numbers: dict[str, Literal["blank_as_null"]] = {}  # numeric columns stored as text
    expectations: ExpectationsCfg = ExpectationsCfg()

    @property
    def inputs(self) -> list[str]:
        """The table's columns the model reads (derived features come from these)."""
        return [*self.numeric, *self.categorical]

    @property
    def event_time(self) -> str:
        """The extract's time column: the table's, or the extraction stamp."""
        return self.timestamp or EXTRACTED_AT

    @property
    def columns(self) -> list[str]:
        """Every column of the extract, in order."""
        return [
            self.id_column,
            self.event_time,
            *self.numeric,
            *self.categorical,
            *self.attributes,
            self.target,
        ]

    @property
    def source_columns(self) -> list[str]:
        """The columns read from the warehouse table."""
        return [c for c in self.columns if c != EXTRACTED_AT or self.timestamp]

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DatasetCfg:
        twice = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if twice:
            hint = (
                f" ({EXTRACTED_AT} is the stamp of dataset.timestamp: null)" if EXTRACTED_AT in twice else ""
            )
            raise ValueError(f"dataset names a column more than once: {twice}{hint}")
        return self

    @field_validator("positive_label", "negative_labels", mode="before")
    @classmethod
    def _labels_as_written(cls, value: Any) -> Any:
        """YAML reads unquoted Yes/No/true as booleans: the value as the column holds it must be quoted."""
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                raise ValueError(
                    f"got the YAML boolean {item} (an unquoted Yes, No, true or false): quote the value as "
                    'the column holds it, e.g. "Yes" or "true"'
                )
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) else v for v in value]
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _id_is_not_an_answer_field(self) -> DatasetCfg:
        if self.id_column in ANSWER_FIELDS:
            raise ValueError(
                f"dataset.id_column {self.id_column!r} is a field of the server's answer {list(ANSWER_FIELDS)}"
            )
        return self

    @model_validator(mode="after")
    def _labels_declared(self) -> DatasetCfg:
        if self.positive_label is None and self.negative_labels:
            raise ValueError("dataset.negative_labels needs dataset.positive_label")
        if self.positive_label is not None:
            if not self.negative_labels:
                raise ValueError(
                    f"dataset.positive_label {self.positive_label!r} needs dataset.negative_labels: "
                    "the values that mean 0 (any other value fails validation)"
                )
            if fold_label(self.positive_label) in {fold_label(v) for v in self.negative_labels}:
                raise ValueError(f"dataset.positive_label {self.positive_label!r} is also a negative label")
        return self

    @model_validator(mode="after")
    def _parse_numbers_are_numeric(self) -> DatasetCfg:
        unknown = sorted(set(self.parse_numbers) - set(self.numeric))
        if unknown:
            raise ValueError(f"dataset.parse_numbers names columns not in dataset.numeric: {unknown}")
        return self

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


def fold_label(label: object) -> str:
    """How labels compare: without case or surrounding spaces ("Yes", "yes ", True and "true" match), and whole
    numbers as integers (1, 1.0 and Decimal("1") match "1": an integer column with nulls reads as floats)."""
    if isinstance(label, numbers.Number) and not isinstance(label, bool):
        try:
            number: Any = label  # a Number that float() takes: numbers.Number declares no __float__
            if float(number).is_integer():
                return str(int(number))
        except (OverflowError, ValueError):  # inf, nan
            pass
    return str(label).strip().casefold()


class DerivedFeature(Section):
    """One derived feature: an expression (common.features.expressions), a 0/1 flag, or bins of a column with labels."""

    name: str
    expr: str | None = None
    flag: str | None = None
    column: str | None = None
    bins: list[float] | None = None
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DerivedFeature:
        kinds = [
            k for k, v in (("expr", self.expr), ("flag", self.flag), ("bins", self.bins)) if v is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                f"feature {self.name}: give exactly one of expr, flag, bins (got {kinds or 'none'})"
            )
        bad_bins = not self.column or not self.labels or len(self.labels) != len(self.bins or []) - 1
        if self.bins is not None and bad_bins:
            raise ValueError(f"feature {self.name}: bins need a column and len(bins) - 1 labels")
        if self.bins is not None and any(a >= b for a, b in zip(self.bins, self.bins[1:], strict=False)):
            raise ValueError(f"feature {self.name}: bins must increase, got {self.bins}")
        text = self.expr if self.expr is not None else self.flag
        if text is not None:
            from common.features.expressions import ExpressionError, compile_expression

            try:
                compile_expression(text)
            except ExpressionError as exc:
                raise ValueError(f"feature {self.name}: {exc}") from None
        return self

    @property
    def kind(self) -> str:
        return "expr" if self.expr is not None else "flag" if self.flag is not None else "bins"

    @property
    def text(self) -> str:
        """The expression of an expr feature, the condition of a flag."""
        found = self.expr if self.expr is not None else self.flag
        if found is None:
            raise ValueError(f"feature {self.name} is bins of a column: it has no expression")
        return found

    @property
    def binned(self) -> tuple[str, list[float], list[str]]:
        """The column, edges and labels of a bins feature."""
        if self.column is None or self.bins is None or self.labels is None:
            raise ValueError(f"feature {self.name} is an expression, not bins of a column")
        return self.column, self.bins, self.labels


class FeaturesCfg(Section):
    project: str = "churn"
    entity: str = "customer"
    feature_view: str = "customer_features"
    feature_service: str = "churn_model_v1"
    ttl_days: int = Field(
        3650, ge=1
    )  # materialize_incremental starts at now - ttl: older rows would be dropped
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str = "127.0.0.1:6379"
    # empty: the registry file <workspace>/feast/registry.db; a SQLAlchemy URL (postgresql+psycopg://...): Feast's
    # SQL registry, shared by a team (its password from FEAST_REGISTRY_URL in the environment)
    registry_url: str = ""
    derived: list[DerivedFeature] = Field(
        default_factory=lambda: [DerivedFeature.model_validate(d) for d in defaults.SAMPLE_DERIVED]
    )


class CandidateCfg(Section):
    name: str
    estimator: str  # an sklearn class path, e.g. sklearn.ensemble.RandomForestClassifier
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _sklearn_only(self) -> CandidateCfg:
        if not self.estimator.startswith("sklearn.") or "." not in self.estimator[len("sklearn.") :]:
            raise ValueError(
                f"candidate {self.name}: estimator must be an sklearn class path, got {self.estimator}"
            )
        return self


class GateCfg(Section):
    thresholds: dict[Literal["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"], float] = Field(
        default_factory=lambda: dict(defaults.GATE_FLOORS)  # type: ignore[arg-type]  # the same six names
    )
    primary_metric: Literal["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"] = "roc_auc"
    regression_tolerance: float = Field(0.01, ge=0)  # how far below the champion a challenger may fall
    promotion_margin: float = Field(0.005, ge=0)  # how far above the champion it must be to take over
    max_latency_ms: float = Field(50.0, gt=0)  # single-row predict_proba, median
    promote: bool = True  # false: a pass is registered as challenger only (UC3's retrain leaves it to UC2)
    # the key that governs `promote`, as the gate's reasons name it: UC3's retrain sets promote from
    # drift.retrain_promotes (set by the code that runs the training, never in a config file)
    promote_key: Literal["training.gate.promote", "drift.retrain_promotes"] = Field(
        "training.gate.promote", json_schema_extra={"internal": True}
    )


class TrainingCfg(Section):
    experiment: str = "churn_prediction"
    registered_model: str = "churn-predictor"
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    cv_folds: int = Field(5, ge=2)
    max_train_rows: int = Field(
        200_000, ge=100
    )  # the candidates' CV and fit take a stratified sample of this many
    decision_threshold: float | Literal["auto"] = "auto"  # auto: the F1-best cut on out-of-fold predictions
    threshold_margin: float = Field(
        0.02, ge=0, lt=0.5
    )  # auto: headroom over the gate's precision/recall floors
    candidates: list[CandidateCfg] = Field(
        default_factory=lambda: [CandidateCfg.model_validate(c) for c in defaults.CANDIDATES]
    )
    gate: GateCfg = GateCfg()

    @field_validator("candidates")
    @classmethod
    def _something_to_train(cls, value: list[CandidateCfg]) -> list[CandidateCfg]:
        if not value:
            raise ValueError("empty: give at least one model to train (config.yaml lists three)")
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must differ, got {names}")
        return value


class MlflowCfg(Section):
    tracking_uri: str = ""  # empty: sqlite:///<workspace>/mlflow/mlflow.db with artifacts beside it


class KubeflowCfg(Section):
    host: WebUrl = ""  # empty: run the pipeline locally with kfp.local (local_runner)
    local_runner: Literal["inprocess", "subprocess"] = "inprocess"  # common/model/local_runner.py
    namespace: str = "kubeflow"
    base_image: str = "python:3.11-slim"  # on a cluster: an image with this project installed
    timeout_s: int = Field(3600, ge=1)


class InferenceLogCfg(Section):
    """The model server's log of every scored customer (UC3's drift input)."""

    enabled: bool = True
    flush_rows: int = Field(1000, ge=1)  # write when this many rows are buffered...
    flush_s: float = Field(10.0, gt=0)  # ...or this long after the last write
    max_buffered_rows: int = Field(100_000, ge=1)  # kept through failed writes; older rows are then dropped


class ResourcesCfg(Section):
    """A container's resources as Kubernetes quantities; KServe's webhook defaults are cpu 1, memory 2Gi."""

    requests: dict[Literal["cpu", "memory"], str] = {"cpu": "1", "memory": "2Gi"}
    limits: dict[Literal["cpu", "memory"], str] = {"cpu": "1", "memory": "2Gi"}

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, str]) -> dict[str, str]:
        from common.serving.quantities import parse_quantity

        for name, quantity in value.items():
            try:
                parse_quantity(quantity)
            except ValueError:
                raise ValueError(
                    f"{name}: {quantity!r} is not a Kubernetes quantity (e.g. 500m, 2Gi)"
                ) from None
        return value


class ServingCfg(Section):
    mode: Literal["local", "kserve"] = (
        "local"  # local: a KServe ModelServer process; kserve: an InferenceService
    )
    host: str = "127.0.0.1"
    port: int = Field(8085, ge=1, le=65535)
    alias: str = "champion"  # the registry alias served
    max_batch: int = Field(1000, ge=1)  # customers per request
    max_body_bytes: int = Field(1 << 20, ge=1024)  # a larger request body gets a 413
    out_of_range: Literal["reject", "accept"] = (
        "reject"  # a value outside dataset.expectations: 400, or scored
    )
    ready_timeout_s: int = Field(90, ge=1)
    feast_completion: bool = True  # complete customer_id-only instances from the online store
    namespace: str = "default"  # kserve mode
    service_account: str = ""  # kserve mode: one that can read the model's storageUri ("" is "default")
    # kserve: Serverless (Knative, its current name) canaries by canaryTrafficPercent; Standard (RawDeployment, its
    # older name) by spec.canary entries, KServe >= 0.20
    deployment_mode: Literal["Serverless", "Knative", "Standard", "RawDeployment"] = "Serverless"
    resources: ResourcesCfg = ResourcesCfg()  # kserve: the predictor's, written out (not left to the webhook)
    inference_log: InferenceLogCfg = InferenceLogCfg()


class ObjectivesCfg(Section):
    """What each version must meet in the canary experiment (Iter8's SLOs, and the model's behaviour)."""

    max_error_rate: float = Field(0.01, ge=0, le=1)  # errors / requests
    max_latency_p95_ms: float = Field(100.0, gt=0)
    max_latency_p99_ms: float = Field(250.0, gt=0)
    positive_rate_band: float = Field(
        0.1, ge=0, le=1
    )  # |candidate - stable| positive-prediction rate, at most


class ABTestingCfg(Section):
    """UC2: the challenger serves a share of real requests beside the champion and is judged on objectives."""

    stable_alias: str = "champion"
    candidate_alias: str = "challenger"
    # shadow: every request is scored by both versions and the stable one answers (paired comparison);
    # split: the candidate answers canary_percent of the requests
    mode: Literal["shadow", "split"] = "shadow"
    canary_percent: float = Field(10.0, gt=0, lt=100)  # the candidate's share of requests (split)
    routing: Literal["sticky", "random"] = "sticky"  # sticky: by a hash of the customer id
    pin_header: str = "x-model-version"  # a request with this header (a version) is served by that version
    traffic: Literal["replay", "live"] = "replay"  # replay: customers from the newest validated data
    replay_rate: float = Field(200.0, gt=0)  # requests per second
    interval_s: float = Field(5.0, gt=0)
    iterations: int = Field(6, ge=1)
    min_requests: int = Field(100, ge=1)  # per version and iteration, before a rate is judged
    failure_limit: int = Field(2, ge=1)  # consecutive failing iterations that end the experiment early
    retry_rejected: bool = (
        False  # true: a candidate an experiment rejected is tested again (--retry-rejected)
    )
    objectives: ObjectivesCfg = ObjectivesCfg()
    # the experiment's false-decision rate, however often it is looked at (always-valid sequential tests)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # the smallest ROC AUC drop the plan is sized for, and the chance of settling it with the planned customers
    min_detectable_auc_drop: float = Field(0.02, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    prometheus_url: WebUrl = ""  # set: objectives read by PromQL; empty: the server's own /metrics
    # PromQL per counter, $model and $version filled in; latency: one series per histogram bucket (le)
    queries: dict[Literal["requests", "errors", "predictions", "positives", "latency"], str] = {
        "requests": 'sum(mlops_ab_requests_total{model_name="$model",version="$version"})',
        "errors": 'sum(mlops_ab_errors_total{model_name="$model",version="$version"})',
        "predictions": 'sum(mlops_ab_predictions_total{model_name="$model",version="$version"})',
        "positives": 'sum(mlops_ab_positive_predictions_total{model_name="$model",version="$version"})',
        "latency": 'sum by (le) (mlops_ab_request_seconds_bucket{model_name="$model",version="$version"})',
    }


class DriftCfg(Section):
    """UC3: what the champion was trained on against what it sees now; drift retrains a challenger."""

    alias: str = "champion"  # the version whose training data is the reference
    current: Literal["inference_log", "latest_extract"] = "inference_log"
    window_hours: float = Field(24.0, gt=0)  # inference_log: the rows logged in the last this many hours
    share_threshold: float = Field(0.3, gt=0, le=1)  # retrain when at least this share of columns drifted...
    prediction_drift: bool = True  # ...or when the churn probability drifted from the champion's holdout
    max_performance_drop: float = Field(0.05, ge=0, le=1)  # ...or ROC AUC / recall on labels fell this much
    fdr: float = Field(0.05, gt=0, lt=1)  # ...or a column drifted: Benjamini-Hochberg at this FDR...
    min_effect: float = Field(0.1, ge=0)  # ...and by at least this PSI (0.1: a moderate shift)
    max_estimated_auc_drop: float = Field(0.05, ge=0, le=1)  # ...or the ROC AUC estimated without labels fell
    max_calibration_error: float = Field(0.05, gt=0, le=1)  # the holdout's ECE past which it is not trusted
    min_rows: int = Field(500, ge=1)  # fewer current rows: insufficient_data
    min_labelled_rows: int = Field(100, ge=1)  # fewer labelled rows: performance is not judged
    cooldown_hours: float = Field(24.0, ge=0)  # no retrain this soon after the last one
    max_rows: int = Field(200_000, ge=1000)  # past this, a seeded sample of the window is compared
    reference_rows: int = Field(100_000, ge=1000)  # the reference is sampled to this, once per data version
    seed: int = 42
    feedback_table: str = "churn_feedback"  # (id, label, time) in the warehouse: labels that arrive later
    pushgateway_url: WebUrl = ""  # set: the drift metrics are pushed there; else a textfile-collector file
    retrain_promotes: bool = False  # false: a retrained model is challenger only, for UC2's experiment


Disparity = Literal["demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"]


class FairnessCfg(Section):
    """UC5: how the model treats groups of customers, on its holdout, judged against thresholds."""

    alias: str = "champion"  # the version analysed (uc5_01 --version N / --alias NAME for another)
    version: str = ""  # set: this version number instead of the alias
    data: Literal["holdout", "latest_extract"] = "holdout"  # the training run's holdout, or the newest data
    # any low-cardinality column (text, bool, a 0/1 flag; dataset.attributes too) or a derived bin or flag
    sensitive_features: list[str] = Field(default_factory=lambda: list(defaults.SAMPLE_SENSITIVE))
    # each a list of two or more such columns, analysed as one combined group label ("Female & 60+")
    intersections: list[Annotated[list[str], Field(min_length=2)]] = Field(
        default_factory=lambda: [list(i) for i in defaults.SAMPLE_INTERSECTIONS]
    )
    max_groups: int = Field(20, ge=2)  # a sensitive feature with more distinct values is not a group label
    min_group_size: int = Field(30, ge=1)  # smaller groups are marked and left out of the disparities
    bootstrap_rounds: int = Field(200, ge=10)
    seed: int = 42
    thresholds: dict[Disparity, float] = {
        "demographic_parity_difference": 0.1,
        "equalized_odds_difference": 0.1,
    }
    # block: a violation (a disparity whose whole bootstrap interval is past its threshold) exits 4 and tags the
    # version fairness=failed
    enforce: Literal["warn", "block"] = "warn"
    # an interval that straddles a threshold is "inconclusive": under enforce: block it blocks only when this is true
    block_inconclusive: bool = False

    @field_validator("version", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Owner(Section):
    name: str
    contact: str = ""


class Risk(Section):
    name: str
    mitigation_strategy: str = ""


class ModelCardCfg(Section):
    """UC5: what only people know about the model; everything else on the card comes from the registry."""

    overview: str = (
        "Predicts which customers are likely to churn in the coming months, from their account and usage."
    )
    # the sample model's texts; a config with its own dataset starts them empty (common/defaults.py)
    intended_use: list[str] = Field(default_factory=lambda: list(defaults.SAMPLE_CARD["intended_use"]))
    users: list[str] = Field(default_factory=lambda: list(defaults.SAMPLE_CARD["users"]))
    owners: list[Owner] = Field(
        default_factory=lambda: [Owner.model_validate(o) for o in defaults.SAMPLE_CARD["owners"]]
    )
    license: str = "proprietary"  # an SPDX identifier, or proprietary
    limitations: list[str] = Field(default_factory=lambda: list(defaults.SAMPLE_CARD["limitations"]))
    tradeoffs: list[str] = Field(default_factory=lambda: list(defaults.SAMPLE_CARD["tradeoffs"]))
    ethical_considerations: list[Risk] = Field(
        default_factory=lambda: [
            Risk.model_validate(r) for r in defaults.SAMPLE_CARD["ethical_considerations"]
        ]
    )


class LineageCfg(Section):
    """OpenLineage events from every step run (common.lineage): where they go."""

    backend: Literal["file", "http", "console", "none"] = "file"  # file: JSONL under <workspace>/lineage/
    namespace: str = "churn-mlops"  # the jobs' namespace
    url: WebUrl = ""  # http: Marquez (or any OpenLineage receiver) base URL
    endpoint: str = "api/v1/lineage"
    api_key: SecretStr = SecretStr("")  # http: a bearer token, from the environment only
    timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _http_needs_url(self) -> LineageCfg:
        if self.backend == "http" and not self.url:
            raise ValueError("lineage.backend http needs lineage.url (e.g. http://marquez:5000)")
        return self


class BatchCfg(Section):
    """UC1 step 07: every customer of the newest validated data scored, into the warehouse and the object store."""

    alias: str = "champion"  # the version that scores
    table: str = "churn_predictions"  # in the warehouse: id, probability, prediction, versions, scored_at


class ArgoCDCfg(Section):
    """UC6 with Argo CD: its API syncs the Application; empty url: the local reconciler serves the repo."""

    url: WebUrl = ""  # e.g. https://argocd.example.com; the token comes from ARGOCD_AUTH_TOKEN only
    app: str = ""  # the Application; empty: <registered model>-<environment>; {environment} is replaced
    namespace: str = "argocd"  # where the Application objects live
    project: str = "default"
    destination_server: str = "https://kubernetes.default.svc"
    repo_url: CommittedUrl = ""  # the deploy repo as Argo CD reaches it (in the Application); empty: repo_url
    verify_tls: bool = True
    poll_s: float = Field(5.0, gt=0)


class GitOpsCfg(Section):
    """UC6: the promoted version written to a deployment git repo; a sync makes the cluster (or the local
    server) run what the repo says."""

    alias: str = "champion"  # the version promoted (uc6_01 --version N / --alias NAME for another)
    version: str = ""  # set: this version number instead of the alias
    environment: str = Field("staging", pattern=r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")  # overlays/<env>/
    namespace: str = "churn-{environment}"  # the Kubernetes namespace of an environment
    repo_url: CommittedUrl = (
        ""  # empty: file://<workspace>/gitops/deploy.git, made on first use; https or ssh
    )
    branch: str = "main"  # the branch Argo CD follows
    push: Literal["direct", "branch"] = "direct"  # branch: promote/<model>-v<N>-<env> for review, no sync
    push_attempts: int = Field(3, ge=1, le=20)  # a push rejected as non-fast-forward is rebuilt and retried
    author_name: str = "mlops-bot"
    author_email: str = "mlops-bot@localhost"
    timeout_s: float = Field(600.0, gt=0)  # a sync not Synced and Healthy by then fails
    argocd: ArgoCDCfg = ArgoCDCfg()

    @field_validator("version", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _argocd_needs_a_reachable_repo(self) -> GitOpsCfg:
        if self.argocd.url and not (self.repo_url or self.argocd.repo_url):
            raise ValueError(
                "gitops.argocd.url is set but gitops.repo_url is empty: Argo CD cannot read the workspace's "
                "local repo; set gitops.repo_url (GITOPS_REPO_URL) to a repo it can reach"
            )
        return self

    def namespace_of(self, environment: str) -> str:
        return self.namespace.replace("{environment}", environment)


class MonitoringCfg(Section):
    """Pipeline figures for Prometheus (deploy/monitoring/): a textfile per pipeline, or a Pushgateway."""

    pushgateway_url: WebUrl = ""  # set: pushed there, grouped by pipeline; empty: <workspace>/metrics/*.prom


class Settings(Section):
    workspace: str = "var"
    logging: LoggingCfg = LoggingCfg()
    retry: RetryCfg = RetryCfg()
    warehouse: WarehouseCfg = WarehouseCfg()
    sample_data: SampleDataCfg = SampleDataCfg()
    object_store: ObjectStoreCfg = ObjectStoreCfg()
    dvc: DvcCfg = DvcCfg()
    # the sample table; a config that gives `dataset:` describes its own table whole (defaults.own_table)
    dataset: DatasetCfg = Field(default_factory=lambda: DatasetCfg.model_validate(defaults.SAMPLE_DATASET))
    features: FeaturesCfg = FeaturesCfg()
    training: TrainingCfg = TrainingCfg()
    mlflow: MlflowCfg = MlflowCfg()
    kubeflow: KubeflowCfg = KubeflowCfg()
    serving: ServingCfg = ServingCfg()
    ab_testing: ABTestingCfg = ABTestingCfg()
    drift: DriftCfg = DriftCfg()
    fairness: FairnessCfg = FairnessCfg()
    model_card: ModelCardCfg = ModelCardCfg()
    lineage: LineageCfg = LineageCfg()
    gitops: GitOpsCfg = GitOpsCfg()
    batch: BatchCfg = BatchCfg()
    monitoring: MonitoringCfg = MonitoringCfg()

    @model_validator(mode="before")
    @classmethod
    def _own_table(cls, data: Any) -> Any:
        return defaults.own_table(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _the_model_has_inputs(self) -> Settings:
        ds = self.dataset
        if not ds.inputs:
            raise ValueError(
                "dataset.numeric and dataset.categorical are both empty: the model has no inputs (a config that "
                "gives dataset: describes its table whole; keys it leaves out are empty, not the sample table's)"
            )
        both = sorted(set(ds.attributes) & set(ds.inputs))
        if both:
            raise ValueError(
                f"dataset.attributes {both} are model inputs too (dataset.numeric, dataset.categorical)"
            )
        return self

    @model_validator(mode="after")
    def _derived_read_known_columns(self) -> Settings:
        from common.features.expressions import compile_expression

        known = set(self.dataset.inputs)
        for feature in self.features.derived:
            reads = [feature.binned[0]] if feature.bins is not None else compile_expression(feature.text)[1]
            unknown = sorted(set(reads) - known)
            if unknown:
                raise ValueError(
                    f"features.derived {feature.name} reads {unknown}: not in dataset.numeric or dataset.categorical "
                    "nor an earlier derived feature (config.yaml's derived features are the sample table's: give "
                    "your own table's, or [])"
                )
            known.add(feature.name)
        return self

    @model_validator(mode="after")
    def _derived_names_are_new(self) -> Settings:
        taken = set(self.dataset.columns)
        seen: set[str] = set()
        for feature in self.features.derived:
            if feature.name in taken or feature.name in seen:
                raise ValueError(
                    f"features.derived {feature.name}: the name is already a column of the dataset or another "
                    "derived feature"
                )
            seen.add(feature.name)
        return self
