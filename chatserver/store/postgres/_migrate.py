"""Schema migrations on PostgreSQL: ``migrations/postgresql/NNNN_name.sql``, applied at open.

`apply_migrations` runs in ONE transaction that first takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``): ten processes opening a fresh database at once queue on the lock,
the first applies every file and records each version in ``schema_version``, the others then
find nothing left to do. DDL is transactional in PostgreSQL, so a failing migration leaves the
schema as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

from ..base import UnavailableError

__all__ = ["MIGRATION_LOCK", "Migration", "apply_migrations", "load_migrations"]

#: The advisory lock key the migrations hold ("chat" in ASCII).
MIGRATION_LOCK = 0x63686174

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str

    @property
    def label(self) -> str:
        """How it is named to people: its file's name without ``.sql`` (``0001_initial``)."""
        return f"{self.version:04d}_{self.name}"

    script: str


def load_migrations() -> list[Migration]:
    """The PostgreSQL migrations shipped in this package, in version order (1, 2, 3 …)."""
    folder = resources.files("chatserver.store").joinpath("migrations").joinpath("postgresql")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {expected:04d} is missing (found {migration.version})")
    return found


async def apply_migrations(conn: AsyncConnection[Any], now: str) -> list[str]:
    """Bring the schema up to date in one locked transaction; returns the `Migration.label`s applied."""
    migrations = load_migrations()
    known = migrations[-1].version if migrations else 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        row = await cursor.fetchone()
        current = int(row[0]) if row is not None else 0
        if current > known:
            raise UnavailableError(
                f"the database schema is version {current}, newer than this code ({known}):"
                " upgrade the hub"
            )
        applied: list[str] = []
        for migration in migrations:
            if migration.version <= current:
                continue
            await conn.execute(migration.script.encode())
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                [migration.version, migration.name, now],
            )
            applied.append(migration.label)
    return applied
