"""`Rollups`: where the analytics layer keeps the figures of whole past days
(``chatserver/analytics/rollups.py`` builds them; ``docs/analytics.md``, "Rollups").

The store keeps, per day (the UTC date of arrival), cells keyed by topic and agent whose
contents it does not read (``cell`` is the analytics layer's JSON), which days were built, and
a mark on each day that changed after it was over. The marks are the database's (triggers on
``conversations``, migrations 0007 / PostgreSQL 0004): every insert, update or delete of a
conversation that arrived before today (by the database's clock) marks its day with a new
version, whoever writes it — the group-commit writer, a purge, a deletion request, a migration;
so does a change to a visitor's name or e-mail, for the days of their past conversations (what
they wrote redacts differently in the term counts).

Guarantees (tests/analytics/test_rollups.py checks each one):

Clean means exact
    A snapshot's `ReadSnapshot.rollup_days` lists a day only if it was built from a snapshot
    that saw every change to it: built, not marked since, and over for more than an hour when
    it was built (a transaction that began on the day and commits after its end cannot be
    missed). Every other day is read from the conversations' rows.
Compare and clear
    `put_rollup_day` replaces the day's cells and clears its mark only if the mark is still the
    ``version`` the builder's snapshot read (None: there was none); after a change committed
    since, it writes nothing and the day stays marked, read raw until the next build.
Deletions take the cells
    Deleting a conversation of a past day deletes that day's cells in the same transaction
    (they hold counts of the words its visitor wrote): after a purge or a deletion request,
    nothing derived from the deleted conversations is left until the day is built again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

__all__ = ["RollupCell", "RollupTodo", "Rollups"]


class RollupCell(NamedTuple):
    """One cell of a day: ``topic`` (``''`` = every topic), ``agent`` (``''`` = every
    conversation; else the agent who last held the served ones) and its JSON."""

    topic: str
    agent: str
    cell: str


class RollupTodo(NamedTuple):
    """The days a snapshot says need building: each with the version of its mark (None: never
    built, not marked), oldest first; ``cutoff`` is the first day that may not be built yet."""

    cutoff: str
    days: list[tuple[str, int | None]]


class Rollups(Protocol):
    """The write side of the rollups (their reads are the snapshot's)."""

    async def put_rollup_day(
        self, day: str, version: int | None, cells: Sequence[RollupCell], *, ts: str
    ) -> bool:
        """If the mark of ``day`` is still ``version``: replace its cells, record it built at
        ``ts`` and clear the mark, in one transaction, and return True; else change nothing
        and return False."""
        ...
