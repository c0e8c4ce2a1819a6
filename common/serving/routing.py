"""Which version answers a request in a canary split, pure: `sticky` hashes the customer id into one of 10,000
buckets (a customer always meets the same version, as an A/B test needs), `random` draws per request; a pinned
version (a request header) wins over both."""

from __future__ import annotations

import hashlib
import random

BUCKETS = 10_000
STABLE, CANDIDATE = "stable", "candidate"


def bucket(customer_id: object) -> int:
    """A stable bucket for an id, the same in every process and run (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(str(customer_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def arm(customer_id: object, percent: float, routing: str, draw: random.Random | None = None) -> str:
    """STABLE or CANDIDATE for one request; `percent` is the candidate's share."""
    if routing == "random":
        return CANDIDATE if (draw or random).random() * 100 < percent else STABLE
    return CANDIDATE if bucket(customer_id) < percent * BUCKETS / 100 else STABLE
