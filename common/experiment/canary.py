"""The spec of a canary split for the local model server, pure: the stable version's spec, and the candidate's
version, model and threshold with the mode, share and routing from ab_testing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.settings import ABTestingCfg

if TYPE_CHECKING:
    from common.model.version import ModelVersion


def canary_spec(stable: dict[str, Any], candidate: ModelVersion, ab: ABTestingCfg) -> dict[str, Any]:
    """`stable`: a server spec; `candidate`: the version put beside it."""
    return {
        **stable,
        "canary": {
            "version_spec": {
                "version": candidate.version,
                "alias": ab.candidate_alias,
                "model_uri": candidate.model_uri,
                "decision_threshold": candidate.threshold,
            },
            "mode": ab.mode,  # shadow: the candidate scores every request and never answers
            "percent": ab.canary_percent,
            "routing": ab.routing,
            "pin_header": ab.pin_header,
        },
    }
