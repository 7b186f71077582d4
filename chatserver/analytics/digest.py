"""Per-conversation digests: evidence that an exported transcript was not altered.

Every exported conversation carries

``digest``
    ``sha256:`` + SHA-256 of ``b"chatserver-transcript-v1\\0" + conversation_id + b"\\0"``
    followed by the canonical JSON of the list of exported events in ``seq`` order (keys
    sorted, no spaces, UTF-8: what ``orjson.dumps(events, option=OPT_SORT_KEYS)`` gives).
    Anyone can recompute it from a JSONL export: it shows the file is intact. In the
    ``messages`` shape the prefix is ``chatserver-messages-v1`` and the list holds the
    conversation's rows, each as ``[conversation_id, seq, ts, topic, language, role, author,
    text]`` (see `messages_digest`).
``seal``
    ``hmac-sha256:`` + HMAC-SHA256 of the digest under a key made once per database. Only the
    hub that exported it can check it (``chatserver verify``): it shows the digest itself was
    not recomputed over edited events.

The events are hashed as exported, i.e. after redaction: the file can be checked on its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["Sealer", "canonical", "digest", "messages_digest", "seal", "seal_ok"]

_PREFIX = b"chatserver-transcript-v1\0"
_MESSAGES_PREFIX = b"chatserver-messages-v1\0"
_SORT = orjson.OPT_SORT_KEYS
# A hash state that has taken in the prefix, copied for each conversation (an export digests
# thousands of small conversations a second). Copying is safe from several threads.
_MESSAGES_STATE = hashlib.sha256(_MESSAGES_PREFIX)


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=_SORT)


def digest(conversation_id: str, events: list[dict[str, Any]]) -> str:
    """The digest of a conversation's exported events (JSONL and the conversations shape)."""
    h = hashlib.sha256(_PREFIX + conversation_id.encode() + b"\0")
    h.update(orjson.dumps(events, option=_SORT))
    return "sha256:" + h.hexdigest()


def messages_digest(
    conversation_id: str, rows: Sequence[Sequence[Any]], dumped: bytes | None = None
) -> str:
    """The digest of a conversation in the messages shape, from its rows' first eight
    columns (conversation_id, seq, ts, topic, language, role, author, text); ``dumped`` is
    ``orjson.dumps(rows)`` if the caller has it already."""
    h = _MESSAGES_STATE.copy()
    h.update(conversation_id.encode() + b"\0")
    h.update(orjson.dumps(rows) if dumped is None else dumped)
    return "sha256:" + h.hexdigest()


def seal(key: bytes, digest_text: str) -> str:
    return "hmac-sha256:" + hmac.new(key, digest_text.encode(), hashlib.sha256).hexdigest()


class Sealer:
    """`seal` under one key, for many digests: HMAC (RFC 2104) from two SHA-256 states that
    have taken in the padded key, made once and copied for each digest (well under half the
    cost of `seal`, which keys a new HMAC each time)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, digest_text: str) -> str:
        inner = self._inner.copy()
        inner.update(digest_text.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return "hmac-sha256:" + outer.hexdigest()


def seal_ok(key: bytes, digest_text: str, seal_text: str) -> bool:
    return hmac.compare_digest(seal(key, digest_text), seal_text)
