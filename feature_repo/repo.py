"""For the Feast CLI only (`feast -c feature_repo apply` imports every .py here): the declarations of
definitions.py, named and typed by config.yaml, with the offline source in the configured workspace."""

from common.config import load_config
from common.features.feast_store import source_id_type
from common.workspace import Workspace
from feature_repo.definitions import declare

_cfg = load_config()
_source = Workspace(_cfg.workspace).root / "features" / f"{_cfg.features.feature_view}.parquet"
customer, customer_source, customer_features, churn_model_v1 = declare(
    _cfg.features, _cfg.dataset, str(_source), source_id_type(_source, _cfg.dataset)
)
