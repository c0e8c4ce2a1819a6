"""Where lineage questions are answered: Marquez's API when lineage.url is set, else the embedded store built from
the workspace's events; and the registry's view the questions need. Shared by UC4's queries and UC5's card."""

from __future__ import annotations

from pathlib import Path

from common.errors import ConfigError
from common.lineage import query
from common.settings import Settings
from common.workspace import Workspace


def open_source(cfg: Settings, ws: Workspace) -> query.Source:
    if cfg.lineage.url:
        import requests

        from common.lineage.marquez import MarquezSource

        return MarquezSource(cfg.lineage, requests.Session())
    from common.lineage.store import EventStore, read_events
    from common.quarantine import keep_lines

    def torn(path: Path, lines: list[str]) -> None:
        keep_lines(
            ws, path, "lineage-events", lines, "not an OpenLineage event (a line torn by a killed writer?)"
        )

    events = read_events(ws.root / "lineage", torn)
    if not events:
        raise ConfigError(
            f"no lineage events in {ws.root / 'lineage'}: run a pipeline first (lineage.backend file), "
            "or set lineage.url to query Marquez"
        )
    return EventStore(events)


def registry_view(cfg: Settings, ws: Workspace) -> query.Models:
    from common.model.registry import RegistryView
    from common.model.tracking import client_for, tracking_uri

    return RegistryView(client_for(tracking_uri(cfg, ws)))
