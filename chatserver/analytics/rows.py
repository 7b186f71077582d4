"""The export's rows: the columns of the ``messages`` and ``conversations`` shapes, a
conversation as one row of the latter (`conversation_row`, its transcript as text included),
and the store's timestamps as milliseconds. `export` writes them as CSV, `_parquet` as
Parquet; `verify` reads them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "CONVERSATION_COLUMNS",
    "EARLIER_CONVERSATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "MessageRow",
    "conversation_row",
    "duration_ms",
    "transcript",
    "ts_ms",
]

#: (conversation_id, seq, ts, topic, language, role, author, text): a messages-shape row.
MessageRow = tuple[str, int, str, str, str, str, str, str]

MESSAGE_COLUMNS: tuple[str, ...] = (
    "conversation_id", "seq", "ts", "topic", "language", "role", "author", "text", "digest",
    "seal",
)  # fmt: skip
CONVERSATION_COLUMNS: tuple[str, ...] = (
    "conversation_id", "visitor", "site", "topic", "language", "status", "agents",
    "created_at", "first_assigned_at", "first_response_at", "closed_at", "closed_by",
    "wait_s", "first_response_s", "handle_s", "transfers", "abandoned", "messages", "tags",
    "rating", "comment", "page_url", "transcript", "digest", "seal", "bot_id", "handed_over_at",
)  # fmt: skip
#: The conversations shape before bots (`verify` still reads files exported then): the same
#: columns but the last two, which were added at the end.
EARLIER_CONVERSATION_COLUMNS = CONVERSATION_COLUMNS[:-2]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def ts_ms(ts: str) -> int:
    """The store's ISO 8601 UTC timestamp as integer milliseconds since the epoch (exact)."""
    return (datetime.fromisoformat(ts) - _EPOCH) // _MS


def duration_ms(start: str | None, end: str | None) -> int | None:
    if start is None or end is None:
        return None
    return ts_ms(end) - ts_ms(start)


def transcript(events: list[dict[str, Any]]) -> str:
    """The conversation as text: one line per message or note, with a marker per transfer."""
    lines: list[str] = []
    for e in events:
        kind = e["kind"]
        if kind in ("message", "note"):
            actor = e["actor"]
            who = actor["name"] or actor["role"]
            label = "note" if kind == "note" else actor["role"]
            lines.append(
                f"[{e['ts'][:19].replace('T', ' ')}] {who} ({label}): {e['body'].get('text', '')}"
            )
        elif kind == "transfer":
            target = e["body"].get("to_agent") or e["body"].get("to_topic") or "another agent"
            lines.append(f"[{e['ts'][:19].replace('T', ' ')}] — transferred to {target} —")
    return "\n".join(lines)


def conversation_row(doc: dict[str, Any]) -> list[Any]:
    """An exported conversation (`export.Export.build`) as a row of `CONVERSATION_COLUMNS`."""
    conv = doc["conversation"]
    m = conv["metrics"]
    return [
        conv["conversation_id"], conv["visitor"], conv["site"], conv["topic"], conv["language"],
        conv["status"], ";".join(conv["agents"]), conv["created_at"], m["first_assigned_at"],
        m["first_response_at"], conv["closed_at"], conv["closed_by"], m["wait_s"],
        m["first_response_s"], m["handle_s"], m["transfers"], m["abandoned"], m["messages"],
        ";".join(conv["tags"]), conv["rating"], conv["rating_comment"], conv["page_url"],
        transcript(doc["events"]), doc["digest"], doc["seal"], conv["bot_id"],
        conv["handed_over_at"],
    ]  # fmt: skip
