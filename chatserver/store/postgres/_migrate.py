"""Schema migrations on PostgreSQL: ``migrations/postgresql/NNNN_name.sql``, applied at open.

`apply_migrations` runs in ONE transaction that first takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``): ten processes opening a fresh database at once queue on the lock,
the first applies every file and records each version in ``schema_version``, the others then
find nothing left to do. DDL is transactional in PostgreSQL, so a failing migration leaves the
schema as it was.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from .._migrate import Migration, check_not_newer
from .._migrate import load_migrations as _load

__all__ = ["MIGRATION_LOCK", "apply_migrations", "load_migrations"]

#: The advisory lock key the migrations hold ("chat" in ASCII).
MIGRATION_LOCK = 0x63686174


def load_migrations() -> list[Migration]:
    """The PostgreSQL migrations shipped in this package (``migrations/postgresql/``), in
    version order (1, 2, 3 …), each file one script."""
    return _load("postgresql", split=False)


async def apply_migrations(conn: AsyncConnection[Any], now: str) -> list[str]:
    """Bring the schema up to date in one locked transaction; returns the migrations applied
    (their `Migration.label`)."""
    migrations = load_migrations()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        row = await cursor.fetchone()
        current = int(row[0]) if row is not None else 0
        check_not_newer(current, migrations)
        applied: list[str] = []
        for migration in migrations:
            if migration.version <= current:
                continue
            for script in migration.statements:  # one: the whole file
                await conn.execute(script.encode())
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                [migration.version, migration.name, now],
            )
            applied.append(migration.label)
    return applied
