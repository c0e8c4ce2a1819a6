"""The spec of a canary split for the local model server, pure: the stable version's spec, and the candidate's
version, model and threshold with the share and routing from ab_testing."""

from __future__ import annotations

from typing import Any

from common.settings import ABTestingCfg


def canary_spec(stable: dict[str, Any], candidate: dict[str, Any], ab: ABTestingCfg) -> dict[str, Any]:
    """`stable`: a server spec; `candidate`: {version, model_uri, threshold} of the version put beside it."""
    return {
        **stable,
        "canary": {
            "version_spec": {
                "version": str(candidate["version"]),
                "alias": ab.candidate_alias,
                "model_uri": candidate["model_uri"],
                "decision_threshold": float(candidate["threshold"]),
            },
            "percent": ab.canary_percent,
            "routing": ab.routing,
            "pin_header": ab.pin_header,
        },
    }
