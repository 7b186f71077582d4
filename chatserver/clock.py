"""Timestamps as the hub writes them: ISO 8601 UTC with milliseconds and a `Z`."""

from __future__ import annotations

from datetime import datetime


def parse_ts(ts: str) -> float:
    """`2026-11-26T04:05:06.123Z` → epoch seconds."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
