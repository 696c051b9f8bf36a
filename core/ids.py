"""Identifiers that sort by creation time, so "newest first" is an index scan on the id."""

from __future__ import annotations

import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """``<prefix>_`` and a ULID: 48 bits of milliseconds, then 80 random bits, in base32."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    encoded = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"{prefix}_{encoded}"
