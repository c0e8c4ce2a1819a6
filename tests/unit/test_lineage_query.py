"""Lineage questions (common.lineage.query) over the embedded store and over Marquez's API: the graph and run-level
model, each job's edges from its latest finished run, versions read as they were, impact and provenance, Marquez's
documented answers parsed into the same answers, the offline picture, and the events' JSON schemas."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from common.errors import ConfigError, ServiceUnavailableError
from common.lineage import picture, query
from common.lineage.graph import Graph
from common.lineage.sample import MODEL, TABLE, pipeline_events
from common.lineage.store import EventStore
from tests.lineage_schema import event_errors, unchecked_facets

FIXTURES = Path(__file__).parent.parent / "fixtures" / "marquez" / "answers.json"
DATA = "dvc:///srv/registry/data/customers.parquet"
TABLE_ID = "dataset:postgres://db.internal:5432:shop.public.customers"
ENDPOINT_URL = "http://127.0.0.1:8085/v1/models/churn-predictor:predict"


def run_id(i: int, n: int) -> str:
    return f"{i:08x}-0000-4000-8000-{n:012x}"


class Registry:
    """The registry's answers as MLflow gives them (common.model.registry.RegistryView), from a dict: the query
    logic is under test here; the e2e tests ask a real MLflow registry."""

    def __init__(self, aliases: dict[str, str], data_tags: dict[str, str]) -> None:
        self._aliases, self.data_tags = aliases, data_tags

    def aliases(self, name: str) -> dict[str, str]:
        return dict(self._aliases)

    def version(self, name: str, ref: str) -> dict[str, Any]:
        number = ref if ref.isdigit() else self._aliases[ref]
        return {
            "name": name,
            "version": number,
            "aliases": sorted(a for a, v in self._aliases.items() if v == number),
            "mlflow_run_id": f"mlflow-run-{number}",
            "data_tag": self.data_tags.get(number),
            "gate": {"passed": True, "promoted": number == self._aliases.get("champion"), "reasons": []},
        }


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(pipeline_events(2, served=lambda i: 1))  # two trainings; v1 stays the one served


@pytest.fixture(scope="module")
def store(events: list[dict[str, Any]]) -> EventStore:
    return EventStore(events)


@pytest.fixture
def registry() -> Registry:
    return Registry({"champion": "1", "challenger": "2"}, {"1": "data-v1", "2": "data-v2"})


def _edges(graph: Graph) -> set[tuple[str, str]]:
    return {(n.id, d) for n in graph.nodes.values() for d in n.out_edges}


def test_each_jobs_edges_come_from_its_latest_finished_run(store: EventStore) -> None:
    graph = store.graph()
    extract = "job:churn-mlops:uc1_01_data_ingestion_postgres"
    assert graph.nodes[extract].out_edges == ["dataset:s3://mlops:raw/customers_00002.parquet"]
    assert "dataset:s3://mlops:raw/customers_00001.parquet" not in graph.nodes
    assert graph.upstream("dataset:mlflow:churn-predictor")[-1] == TABLE_ID  # furthest back: the table
    assert (
        graph.downstream(TABLE_ID)[-1] == "dataset:http://127.0.0.1:8085:/v1/models/churn-predictor:predict"
    )
    assert graph.downstream(TABLE_ID, depth=2) == [extract, "dataset:s3://mlops:raw/customers_00002.parquet"]
    assert Graph.from_marquez(graph.to_marquez()).to_marquez() == graph.to_marquez()


def test_a_failed_run_clears_its_jobs_edges_as_in_marquez_yet_the_trained_versions_stay_affected(
    events: list[dict[str, Any]], registry: Registry
) -> None:
    from openlineage.client.serde import Serde

    from common.lineage.events import RunContext, run_event

    failed = RunContext("uc1_01_data_ingestion_postgres", run_id(3, 1), "STEP")
    later = [
        Serde.to_dict(run_event(s, failed, "churn-mlops", error="table gone")) for s in ("START", "FAIL")
    ]
    store = EventStore([*events, *later])
    job = store.graph().nodes["job:churn-mlops:uc1_01_data_ingestion_postgres"]
    assert (job.in_edges, job.out_edges, job.data["latestRun"]["state"]) == ([], [], "FAILED")
    answer, _ = query.impact(store, registry, query.resolve(store, TABLE), 20, [MODEL])
    assert answer["jobs"] == []  # the graph is cut at the failed job ...
    assert [m["version"] for m in answer["model_versions"]] == ["2", "1"]  # ... run-level lineage is not


def test_run_level_lineage_reads_each_version_as_it_was(store: EventStore) -> None:
    runs = {r.run_id: r for r in store.upstream_runs(run_id(1, 5))}
    assert set(runs) == {run_id(1, n) for n in (1, 2, 3, 4, 5)}  # training v1: its own pipeline run only
    (view,) = runs[run_id(1, 5)].inputs
    assert view.produced_by == run_id(1, 4)  # no version facet: the newest write before v1's training began
    data, report = runs[run_id(1, 4)].inputs
    assert (data.version, data.produced_by) == (f"data-v1 (md5 {1:032x})", run_id(1, 2))
    assert report.produced_by == run_id(1, 3)


def test_impact_of_a_table_a_data_version_and_a_model(store: EventStore, registry: Registry) -> None:
    answer, picture_graph = query.impact(store, registry, query.resolve(store, TABLE), 20, [MODEL])
    assert answer["jobs"][0] == "uc1_01_data_ingestion_postgres" and len(answer["jobs"]) == 6
    assert [(m["version"], m["aliases"]) for m in answer["model_versions"]] == [
        ("2", ["challenger"]),
        ("1", ["champion"]),
    ]
    assert answer["endpoints"] == [
        {
            "id": "dataset:http://127.0.0.1:8085:/v1/models/churn-predictor:predict",
            "url": ENDPOINT_URL,
            "serves": "churn-predictor/1",
            "affected": True,
        }
    ]
    assert TABLE_ID in picture_graph.nodes and len(picture_graph.nodes) == 13
    by_tag, _ = query.impact(store, registry, query.resolve(store, f"{DATA}@data-v2"), 20, [MODEL])
    assert [m["version"] for m in by_tag["model_versions"]] == ["2"]
    assert by_tag["endpoints"][0]["affected"] is False  # v2 is trained on it, but v1 is served
    model, _ = query.impact(store, registry, query.resolve(store, "models:/churn-predictor/1"), 20, [])
    assert [m["version"] for m in model["model_versions"]] == ["1"] and model["endpoints"][0]["affected"]


def test_provenance_of_the_champion_goes_back_to_its_own_data_version(
    store: EventStore, registry: Registry
) -> None:
    answer, graph = query.provenance(store, registry, MODEL, "champion")
    assert answer["model"]["version"] == "1" and answer["model"]["lineage_run"] == run_id(1, 5)
    assert [t["id"] for t in answer["tables"]] == [TABLE_ID]
    assert [e["name"] for e in answer["extracts"]] == ["raw/customers_00001.parquet"]
    assert [d["version"] for d in answer["data_versions"]] == [f"data-v1 (md5 {1:032x})"]
    (check,) = answer["validation"]
    assert (check["job"], check["status"], check["passed"], check["expectations"]) == (
        "uc1_03_data_validation_ge",
        "COMPLETED",
        1,
        1,
    )
    assert check["reports"] == ["/srv/reports/validation/customers_data-v1.json"]
    assert [f["id"] for f in answer["feature_views"]] == ["dataset:feast://churn:customer_features"]
    assert [r["job"][:6] for r in answer["runs"]] == ["uc1_01", "uc1_02", "uc1_03", "uc1_04", "uc1_05"]
    assert answer["consistent"] is True
    assert f"dataset:file:/srv/registry/data/customers.parquet@data-v1 (md5 {1:032x})" in graph.nodes
    registry.data_tags["1"] = "data-v2"  # the registry disagrees with the lineage: said, not hidden
    assert query.provenance(store, registry, MODEL, "1")[0]["consistent"] is False


def test_a_version_without_lineage_and_unknown_names_are_errors_that_say_what_to_do(
    store: EventStore,
) -> None:
    registry = Registry({"champion": "3"}, {})
    with pytest.raises(
        ConfigError, match=r"models:/churn-predictor/3 is in the registry but in no lineage event"
    ):
        query.provenance(store, registry, MODEL, "champion")
    with pytest.raises(ConfigError, match=r"no dataset or job named 'nowhere'"):
        query.resolve(store, "nowhere")
    with pytest.raises(ConfigError, match=r"'parquet' names 3 nodes, give one of: dataset:file:/srv"):
        query.resolve(store, "parquet")
    assert query.resolve(store, "customers").id == TABLE_ID
    assert query.resolve(store, "uc1_05_model_training_kubeflow").id.startswith("job:churn-mlops:")
    with pytest.raises(ConfigError, match=r"is not in the lineage"):
        query.upstream(store, query.Target("dataset:file:/nowhere"), 5)


class MarquezFixtures:
    """A local HTTP server answering Marquez's documented GETs from tests/fixtures/marquez/answers.json (404
    otherwise); it records each request's Authorization header."""

    def __init__(self, status: int = 200) -> None:
        answers = json.loads(FIXTURES.read_text())
        self.headers: list[str | None] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.headers.append(self.headers.get("Authorization"))
                parts = urlsplit(self.path)
                params = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(parts.query)))
                body = answers.get(f"GET {parts.path}?{params}" if params else f"GET {parts.path}")
                code = status if body is not None or status != 200 else 404
                data = json.dumps(body or {"code": code, "error": "not found"}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _marquez(url: str, key: str = "") -> Any:
    import requests

    from common.lineage.marquez import MarquezSource
    from common.settings import LineageCfg

    return MarquezSource(LineageCfg(url=url, api_key=key, timeout_s=2), requests.Session())


@pytest.fixture
def marquez() -> Iterator[MarquezFixtures]:
    server = MarquezFixtures()
    yield server
    server.stop()


def test_marquez_answers_parse_into_the_same_graph_and_answers_as_the_embedded_store(
    marquez: MarquezFixtures, store: EventStore, registry: Registry
) -> None:
    source = _marquez(marquez.url, key="s3cret")
    target = query.resolve(source, TABLE)
    assert query.resolve(source, "customers") == query.resolve(store, "customers") == target  # by /search
    assert _edges(source.lineage(target.id, 20)) == _edges(store.graph())
    ours, _ = query.impact(store, registry, target, 20, [MODEL])
    theirs, _ = query.impact(source, registry, target, 20, [MODEL])
    assert sorted(theirs["jobs"]) == sorted(ours["jobs"])
    for key in ("model_versions", "endpoints"):
        assert _without_times(theirs[key]) == _without_times(ours[key]), key
    assert {d["id"] for d in theirs["datasets"]} == {d["id"] for d in ours["datasets"]}
    ours_p, _ = query.provenance(store, registry, MODEL, "champion")
    theirs_p, _ = query.provenance(source, registry, MODEL, "champion")
    for key in ("model", "tables", "extracts", "data_versions", "validation", "feature_views", "consistent"):
        assert theirs_p[key] == ours_p[key], key
    assert sorted(r["run"] for r in theirs_p["runs"]) == sorted(r["run"] for r in ours_p["runs"])
    assert set(marquez.headers) == {"Bearer s3cret"}  # the key from config (the environment), on every call


def _without_times(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "created"} for item in items]


def test_marquez_unreachable_or_refusing_is_said_with_the_cause() -> None:
    down = MarquezFixtures()
    url = down.url
    down.stop()
    with pytest.raises(ServiceUnavailableError, match=rf"Marquez at {url}/api/v1 cannot be reached"):
        _marquez(url).lineage(TABLE_ID, 5)
    refusing = MarquezFixtures(status=401)
    try:
        with pytest.raises(ConfigError, match=r"\(401\): set MARQUEZ_API_KEY to a valid key"):
            _marquez(refusing.url).lineage(TABLE_ID, 5)
    finally:
        refusing.stop()


def test_the_picture_is_one_offline_page_with_every_node_in_order(store: EventStore) -> None:
    graph = store.graph()
    page = picture.render(graph, "impact: customers", TABLE_ID)
    assert page.startswith("<!doctype html>") and page.count("<svg") == 1
    assert "<script" not in page and "src=" not in page and 'href="http' not in page  # nothing fetched
    assert all(nid in page for nid in graph.nodes)
    layers = picture.layers(graph)
    assert layers[TABLE_ID] == 0 and layers["dataset:mlflow:churn-predictor"] == 10
    assert page.count("stroke: #dd0000") == 1  # the node asked about stands out


def test_every_event_validates_against_the_openlineage_schemas(events: list[dict[str, Any]]) -> None:
    from openlineage.client.serde import Serde

    from common.lineage.events import RunContext, run_event

    failed = Serde.to_dict(run_event("FAIL", RunContext("x", run_id(9, 9), "STEP"), "ns", error="boom"))
    for event in [*events, failed]:
        assert event_errors(event) == [], event["job"]["name"]
    assert "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json" not in unchecked_facets(events[0])
    broken = json.loads(json.dumps(events[1]))
    del broken["run"]["runId"]
    del broken["run"]["facets"]["parent"]["run"]["runId"]
    broken["outputs"][0]["facets"]["datasetType"].pop("_producer")
    errors = "\n".join(event_errors(broken))
    assert "'runId' is a required property" in errors
    assert "parent (https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json" in errors
    assert "datasetType" in errors and "'_producer' is a required property" in errors
