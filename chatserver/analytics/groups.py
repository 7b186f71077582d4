"""`Group`: the figures of a set of conversations (``docs/analytics.md`` defines each one),
added row by row or merged from rollup cells; `Tally`, a summary's groups.

Per conversation (from its row, where the append path keeps the facts of its events):

- *served*: it has an ``assigned`` event; *first assigned* is the first one's time.
- *wait* = first assigned − the time it started waiting for a person: its handoff
  (``handed_over_at``) if a bot held it first, else its arrival (``created_at``) — the bot's
  time is not waiting — for served conversations.
- *first response* = first agent message − arrival.
- *handle time* = ``closed_at`` − first assigned, for closed served conversations.
- *abandoned*: closed without any ``assigned`` event (the visitor left the queue), a bot's
  resolved conversation aside.
- *transfers*: its ``transfer`` events.
- *bot*: a bot held it first (``bot_id``); *handed over*: its bot handed it to the agents'
  queue (``handed_over_at``); *bot-resolved*: a bot's, closed, never handed over.

Durations are kept as `sketch.Durations`: counts, sums and means exact, percentiles
nearest-rank within 1 %.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import orjson

from chatserver.store.snapshots import FigureRow

from .rows import duration_ms
from .sketch import Durations

__all__ = ["CELL_VERSION", "Group", "Tally", "percentile"]


def percentile(ordered: list[float], p: float) -> float | None:
    """Exact nearest-rank percentile of an ascending list (None when empty): what the figures'
    percentiles approximate within `sketch.ACCURACY`."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Group:
    """The figures of a set of conversations, added one at a time (`add`) or merged from
    another group (`merge`, what the rollups do); `dump`/`load` are a rollup cell's JSON.
    Tags (each once per conversation) and the first and last arrival are counted only for the
    rows added with their tags (the groups whose tags are read)."""

    __slots__ = (
        "abandoned", "bot_resolved", "bots", "closed", "conversations", "first_at",
        "first_responses", "handed_over", "handles", "last_at", "ratings", "served", "tags",
        "transferred", "transfers", "waits",
    )  # fmt: skip

    def __init__(self) -> None:
        self.conversations = self.closed = self.served = self.abandoned = 0
        self.transfers = self.transferred = 0
        self.bots = self.bot_resolved = self.handed_over = 0
        self.waits = Durations()
        self.first_responses = Durations()
        self.handles = Durations()
        self.ratings = [0, 0, 0, 0, 0]
        self.tags: Counter[str] = Counter()
        self.first_at: str | None = None
        self.last_at: str | None = None

    def add(self, row: FigureRow, tags: Iterable[str] | None = None) -> None:
        self.conversations += 1
        closed = row.status == "closed"
        self.closed += closed
        bot_resolved = False
        if row.bot_id is not None:
            self.bots += 1
            if row.handed_over_at is not None:
                self.handed_over += 1
            elif closed:
                bot_resolved = True
                self.bot_resolved += 1
        if row.first_assigned_at is not None:
            self.served += 1
            self.waits.add(_ms(row.handed_over_at or row.created_at, row.first_assigned_at))
            if closed and row.closed_at is not None:
                self.handles.add(_ms(row.first_assigned_at, row.closed_at))
        elif closed and not bot_resolved:
            self.abandoned += 1
        if row.first_response_at is not None:
            # From the handoff too: a person's first reply to a visitor a bot passed on.
            self.first_responses.add(
                _ms(row.handed_over_at or row.created_at, row.first_response_at)
            )
        if row.transfers:
            self.transfers += row.transfers
            self.transferred += 1
        if row.rating is not None and 1 <= row.rating <= 5:
            self.ratings[row.rating - 1] += 1
        if tags is not None:
            self.tags.update(tags)
            at = row.created_at
            if self.first_at is None or at < self.first_at:
                self.first_at = at
            if self.last_at is None or at > self.last_at:
                self.last_at = at

    def merge(self, other: Group) -> None:
        self.conversations += other.conversations
        self.closed += other.closed
        self.served += other.served
        self.abandoned += other.abandoned
        self.transfers += other.transfers
        self.transferred += other.transferred
        self.bots += other.bots
        self.bot_resolved += other.bot_resolved
        self.handed_over += other.handed_over
        self.waits.merge(other.waits)
        self.first_responses.merge(other.first_responses)
        self.handles.merge(other.handles)
        self.ratings = [a + b for a, b in zip(self.ratings, other.ratings, strict=True)]
        self.tags.update(other.tags)
        if other.first_at is not None and (self.first_at is None or other.first_at < self.first_at):
            self.first_at = other.first_at
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at

    def dump(self) -> dict[str, Any]:
        """A rollup cell's JSON-ready form."""
        return {
            "v": CELL_VERSION,
            "n": [self.conversations, self.closed, self.served, self.abandoned,
                  self.transfers, self.transferred],
            "bots": [self.bots, self.bot_resolved, self.handed_over],
            "ratings": self.ratings,
            "wait": self.waits.dump(),
            "first_response": self.first_responses.dump(),
            "handle": self.handles.dump(),
            "tags": self.tags,
            "period": [self.first_at, self.last_at],
        }  # fmt: skip

    @classmethod
    def load(cls, data: dict[str, Any]) -> Group:
        """A group from a cell's form (`dump`): of this version, or of version 1 (before bots:
        no bot conversation, so no bot counts)."""
        if data.get("v") not in (1, CELL_VERSION):
            raise ValueError(
                f"a rollup cell of version {data.get('v')!r}, not {CELL_VERSION}: run"
                " `chatserver analytics rebuild`"
            )
        made = cls()
        (made.conversations, made.closed, made.served, made.abandoned, made.transfers,
         made.transferred) = data["n"]  # fmt: skip
        made.bots, made.bot_resolved, made.handed_over = data.get("bots", (0, 0, 0))
        made.ratings = data["ratings"]
        made.waits = Durations.load(data["wait"])
        made.first_responses = Durations.load(data["first_response"])
        made.handles = Durations.load(data["handle"])
        made.tags = Counter(data["tags"])
        made.first_at, made.last_at = data["period"]
        return made

    def figures(self) -> dict[str, Any]:
        rated = sum(self.ratings)
        score_sum = sum((i + 1) * n for i, n in enumerate(self.ratings))
        return {
            "conversations": self.conversations,
            "closed": self.closed,
            "served": self.served,
            "abandoned": self.abandoned,
            "abandonment_rate": _ratio(self.abandoned, self.closed),
            "wait_s": self.waits.stats(),
            "first_response_s": self.first_responses.stats(),
            "handle_s": self.handles.stats(),
            "transfers": {
                "total": self.transfers,
                "conversations": self.transferred,
                "rate": _ratio(self.transferred, self.served),
            },
            "bots": {
                "conversations": self.bots,
                "resolved": self.bot_resolved,
                "handed_over": self.handed_over,
                "resolution_rate": _ratio(self.bot_resolved, self.bot_resolved + self.handed_over),
            },
            "csat": {
                "rated": rated,
                "average": score_sum / rated if rated else None,
                "distribution": {str(i + 1): n for i, n in enumerate(self.ratings)},
                "response_rate": _ratio(rated, self.closed),
                "satisfied_share": _ratio(self.ratings[3] + self.ratings[4], rated),
            },
        }


#: The form of a rollup cell (`Group.dump`); version 2 added the bot counts (``bots``), and
#: `Group.load` still reads version 1's cells (days before bots) with none.
CELL_VERSION = 2


class Tally:
    """The groups of a summary: every conversation, and by topic, agent and day."""

    __slots__ = ("by_agent", "by_day", "by_topic", "total")

    def __init__(self) -> None:
        self.total = Group()
        self.by_topic: defaultdict[str, Group] = defaultdict(Group)
        self.by_agent: defaultdict[str, Group] = defaultdict(Group)
        self.by_day: defaultdict[str, Group] = defaultdict(Group)

    def add(self, row: FigureRow) -> None:
        self.total.add(row, set(orjson.loads(row.tags)))
        self.by_topic[row.topic].add(row)
        self.by_day[row.created_at[:10]].add(row)
        if row.last_agent_id is not None and row.first_assigned_at is not None:
            self.by_agent[row.last_agent_id].add(row)


def _ms(start: str, end: str) -> int:
    ms = duration_ms(start, end)
    assert ms is not None
    return ms
