import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.experiment import replay
from common.report.page import build
from common.workspace import Workspace
from tests.conftest import ROOT


def test_an_empty_workspace_says_what_to_run_for_each_report(tmp_path: Path) -> None:
    text = build(Workspace(tmp_path), []).read_text()
    assert "nothing yet: run uc1_churn_prediction/uc1_03_data_validation_ge.py" in text
    assert "nothing yet: run uc6_gitops_deployment/run_pipeline.py" in text and "no runs yet" in text
    assert "<script" not in text and "http" not in text  # offline: nothing fetched


def test_reports_are_linked_relatively_newest_first_and_escaped(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    older, newer = (ws.dir("reports", "fairness", v) / "fairness.html" for v in ("m-v1", "m-v2"))
    for n, page in enumerate((older, newer)):
        page.write_text("x")
        os.utime(page, (1000 + n, 1000 + n))
    picture = ws.dir("reports", "lineage") / "impact_<b>.html"
    picture.write_text("x")
    text = build(ws, []).read_text()
    assert "href='fairness/m-v2/fairness.html'" in text and "m-v1" not in text
    assert "impact &lt;b&gt;" in text and "<b>" not in text


def test_the_page_cli_rebuilds_it_in_the_configured_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "MLOPS_WORKSPACE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "common.report"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "index.html").is_file() and str(tmp_path / "reports") in proc.stdout


def test_a_replay_of_a_file_needs_the_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        replay.main(["--data", "customers.parquet"])
    assert exc.value.code == 2 and "--data needs --endpoint" in capsys.readouterr().err


def test_a_replay_names_the_id_column_a_file_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    monkeypatch.setenv("MLOPS_WORKSPACE", str(tmp_path / "ws"))
    data = tmp_path / "customers.parquet"
    pd.DataFrame({"customer_id": [1], "age": [30], "churn": [0]}).to_parquet(data)
    code = replay.main(["--data", str(data), "--endpoint", "http://127.0.0.1:1/x", "--id-column", "cust"])
    said = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 2 and "has no column 'cust' (--id-column); it has customer_id, age, churn" in said["error"]
    experiment = replay.plain(str(data), "http://127.0.0.1:1/x", 10.0, 1.0)
    # every column but the id is sent, the label too (the server takes a row as the table has it)
    assert experiment["replay"]["id_column"] == "customer_id"
    assert experiment["replay"]["fields"] == ["age", "churn"]


ERROR = '{"error": "instances[0].TotalCharges: expected a number or null, got \'333.65\'"}'


def test_a_replay_against_a_server_that_refuses_exits_1_and_shows_what_it_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import threading

    import pandas as pd

    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = ERROR.encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLOPS_WORKSPACE", str(tmp_path / "ws"))
    data = tmp_path / "customers.parquet"
    pd.DataFrame({"customer_id": [1, 2], "age": [30, 40], "churn": [0, 1]}).to_parquet(data)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/models/m:predict"
    try:
        code = replay.main(["--data", str(data), "--endpoint", url, "--rate", "20", "--duration", "0.5"])
    finally:
        server.shutdown()
    said = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1 and said["status"] == "failed" and said["answers"] == {"400": 10}
    assert said["errors"] == [ERROR]
    assert (
        replay.tell([{"status": 400, "version": None, "error": "x"}], data, 1.0)["exit_code"] == 0
    )  # tolerated
