"""The protocol's settings: size, time and rate limits and the hub's topics and languages."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LANGUAGES", "DEFAULT_TOPICS", "Limits"]

#: The topics the hub offers out of the box (PROTOCOL.md).
DEFAULT_TOPICS: tuple[str, ...] = ("general", "billing", "account", "technical")
#: The languages the hub offers out of the box (PROTOCOL.md).
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "es", "ar", "zh")


@dataclass(frozen=True, slots=True)
class Limits:
    """Everything a :class:`ProtocolConnection` needs to know about the hub's configuration.

    Rate limiting is a token bucket of ``rate_burst`` tokens refilled at ``rate_per_s``; a frame
    that finds the bucket empty is dropped with ``error`` ``rate_limited`` (a *violation*).
    ``rate_violations_before_close`` violations within ``rate_violation_window_s`` seconds
    (a sliding window, not necessarily consecutive) close the connection with 4429.
    """

    max_frame_bytes: int = 65536
    hello_timeout_s: float = 10.0
    max_text_chars: int = 4000
    rate_per_s: float = 10.0
    rate_burst: int = 20
    rate_violations_before_close: int = 5
    rate_violation_window_s: float = 10.0
    max_tags: int = 20
    max_tag_chars: int = 40
    max_name_chars: int = 100
    topics: tuple[str, ...] = DEFAULT_TOPICS
    languages: tuple[str, ...] = DEFAULT_LANGUAGES

    def __post_init__(self) -> None:
        positive = {
            "max_frame_bytes": self.max_frame_bytes,
            "hello_timeout_s": self.hello_timeout_s,
            "max_text_chars": self.max_text_chars,
            "rate_per_s": self.rate_per_s,
            "rate_burst": self.rate_burst,
            "rate_violations_before_close": self.rate_violations_before_close,
            "rate_violation_window_s": self.rate_violation_window_s,
            "max_tags": self.max_tags,
            "max_tag_chars": self.max_tag_chars,
            "max_name_chars": self.max_name_chars,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be > 0, got {value!r}")
        for name, values in (("topics", self.topics), ("languages", self.languages)):
            if not isinstance(values, tuple) or not values:
                raise ValueError(f"Limits.{name} must be a non-empty tuple of strings")
            if any(not isinstance(v, str) or not v.strip() for v in values):
                raise ValueError(f"Limits.{name} must hold non-empty strings, got {values!r}")
