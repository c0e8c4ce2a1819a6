"""Validate OpenLineage events against the JSON schemas kept in tests/schemas/openlineage (see its README): each
event against the core's RunEvent, each facet against its own schema when kept, else against the core's facet
definition for its place."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "schemas" / "openlineage"
CORE = "https://openlineage.io/spec/2-0-7/OpenLineage.json"
STAMPED_CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"  # what openlineage-python 1.54 names


@cache
def _registry() -> tuple[Any, frozenset[str]]:
    from referencing import Registry, Resource

    core = json.loads((SCHEMAS / "2-0-7" / "OpenLineage.json").read_text())
    registry = Registry().with_resources(
        [(CORE, Resource.from_contents(core)), (STAMPED_CORE, Resource.from_contents(core))]
    )
    kept = set()
    for path in sorted(SCHEMAS.glob("facets/*/*.json")):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        kept.add(schema["$id"])
    return registry, frozenset(kept)


def _errors(schema_ref: str, instance: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    registry, _ = _registry()
    validator = Draft202012Validator({"$ref": schema_ref}, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def event_errors(event: dict[str, Any]) -> list[str]:
    """Every schema error of one run event and its facets; [] when valid."""
    _, kept = _registry()
    errors = _errors(f"{STAMPED_CORE}#/$defs/RunEvent", event)
    places = [("RunFacet", event["run"].get("facets", {})), ("JobFacet", event["job"].get("facets", {}))]
    for item in event.get("inputs", []):
        places += [
            ("DatasetFacet", item.get("facets", {})),
            ("InputDatasetFacet", item.get("inputFacets", {})),
        ]
    for item in event.get("outputs", []):
        places.append(("DatasetFacet", item.get("facets", {})))
    for place, facets in places:
        for name, facet in facets.items():
            url = facet.get("_schemaURL", "")
            own = url.split("#")[0] in kept
            ref = url if own else f"{STAMPED_CORE}#/$defs/{place}"
            errors += [f"{name} ({ref}): {e}" for e in _errors(ref, facet)]
    return errors


def unchecked_facets(event: dict[str, Any]) -> set[str]:
    """The facet schema URLs of an event that have no file kept here."""
    _, kept = _registry()
    bags = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for item in event.get("inputs", []) + event.get("outputs", []):
        bags += [item.get("facets", {}), item.get("inputFacets", {})]
    return {f["_schemaURL"].split("#")[0] for bag in bags for f in bag.values()} - kept
