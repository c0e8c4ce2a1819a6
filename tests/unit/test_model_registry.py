from pathlib import Path

from common.config import load_config
from common.model.tracking import artifact_root, tracking_uri
from common.workspace import Workspace


def test_artifacts_stay_in_the_workspace_unless_a_server_stores_them(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert artifact_root("sqlite:///x.db", ws) == tmp_path / "mlflow" / "artifacts"
    assert artifact_root("postgresql+psycopg://mlflow@db/mlflow", ws) == tmp_path / "mlflow" / "artifacts"
    assert artifact_root("http://mlflow.internal:5000", ws) is None


def test_tracking_defaults_to_sqlite_in_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert tracking_uri(load_config(environ={}), ws) == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    server = load_config(overrides=["mlflow.tracking_uri=http://mlflow:5000"], environ={})
    assert tracking_uri(server, ws) == "http://mlflow:5000"
