"""`Rollups`: where the analytics layer keeps the figures of past days and hours
(``chatserver/analytics/rollups.py`` builds them; ``docs/analytics.md``, "Rollups").

The store keeps, per period — a UTC day of arrival (``2026-05-01``) or an hour
(``2026-05-01T14``) — cells keyed by topic and agent whose contents it does not read (``cell``
is the analytics layer's JSON), which periods were built, and a mark for each change to an hour
after it was over. The marks are the database's (triggers, migrations 0007 / PostgreSQL 0004):
every insert, update or delete of a conversation that arrived before the current hour (by the
database's clock) adds a mark for its hour, whoever writes it — the group-commit writer, a purge,
a deletion request, a migration, a copy; so does a change to a visitor's name or e-mail, for the
hours of their past conversations (what they wrote redacts differently in the term counts).
Marks are rows added, never updated: writers on several hosts never wait for each other on them.

Guarantees (tests/analytics/test_rollups.py checks each one):

Clean means exact
    A snapshot's `ReadSnapshot.rollup_periods` lists a period only if it was built from a
    snapshot that saw every change to it: built, not marked since, and over for more than an
    hour when it was built (a transaction that began in it and commits after its end cannot be
    missed). Every other period is read from the conversations' rows.
Compare and clear
    `put_rollup` writes a unit's cells and deletes its marks only if its marks are still those
    the builder's snapshot saw; after a change committed since, it writes nothing and the unit
    stays marked, read raw until the next build.
Deletions take the cells
    Deleting a conversation of a past hour deletes the cells of its day and hour in the same
    transaction (they hold counts of the words its visitor wrote): after a purge or a deletion
    request, nothing derived from the deleted conversations is left until they are built again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

__all__ = ["RollupCell", "RollupTodo", "RollupUnit", "Rollups"]


class RollupCell(NamedTuple):
    """One cell: its ``period``, ``topic`` (``''`` = every topic), ``agent`` (``''`` = every
    conversation; else the agent who last held the served ones) and its JSON."""

    period: str
    topic: str
    agent: str
    cell: str


class RollupUnit(NamedTuple):
    """What one build covers: a whole day with every hour of it (``period`` a date), or one
    hour of a day not over yet (an hour), with the ids of the marks the snapshot saw in it."""

    period: str
    marks: tuple[int, ...]


class RollupTodo(NamedTuple):
    """The units a snapshot says need building, oldest first; ``cutoff`` is the first hour that
    may not be built yet (the hour an hour ago, by the database's clock)."""

    cutoff: str
    units: list[RollupUnit]


class Rollups(Protocol):
    """The write side of the rollups (their reads are the snapshot's)."""

    async def put_rollup(
        self, unit: RollupUnit, cells: Sequence[RollupCell], built: Sequence[str], *, ts: str
    ) -> bool:
        """If the marks of ``unit`` are still those it carries: replace every cell of its
        period (a day's hours too), record the ``built`` periods at ``ts`` and delete those
        marks, in one transaction, and return True; else change nothing and return False."""
        ...
