"""Schema migrations: numbered SQL files in ``migrations/``, applied at open in one transaction.

``migrations/NNNN_name.sql`` holds plain DDL (no BEGIN/COMMIT). `apply_migrations` takes the
write lock with ``BEGIN IMMEDIATE``, reads ``schema_version``, runs every newer file statement
by statement, records each version and commits: all or nothing. Two processes opening the same
fresh file at once serialise on the write lock, and the second finds nothing left to do.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from .base import UnavailableError

__all__ = [
    "Migration",
    "apply_migrations",
    "check_not_newer",
    "load_migrations",
    "split_statements",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str

    @property
    def label(self) -> str:
        """How it is named to people: its file's name without ``.sql`` (``0001_initial``)."""
        return f"{self.version:04d}_{self.name}"

    statements: tuple[str, ...]


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers' BEGIN…END included)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and any(
        not part.strip().startswith("--") for part in buffer.splitlines() if part.strip()
    ):
        raise ValueError(f"incomplete SQL statement at the end of the script: {buffer!r}")
    return statements


def load_migrations(folder: str = "", *, split: bool = True) -> list[Migration]:
    """The migrations shipped in this package (``migrations/``, or its subfolder ``folder``),
    in version order; versions run 1, 2, 3 … Each file's statements are split apart (SQLite
    runs one statement a call), or with ``split=False`` kept as one script (PostgreSQL)."""
    place = resources.files(__package__).joinpath("migrations")
    found: list[Migration] = []
    for entry in (place.joinpath(folder) if folder else place).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        script = entry.read_text(encoding="utf-8")
        statements = tuple(split_statements(script)) if split else (script,)
        found.append(Migration(int(match[1]), match[2], statements))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {expected:04d} is missing (found {migration.version})")
    return found


def check_not_newer(current: int, migrations: list[Migration]) -> None:
    """Refuse a schema newer than the code's last migration (`UnavailableError`)."""
    known = migrations[-1].version if migrations else 0
    if current > known:
        raise UnavailableError(
            f"the database schema is version {current}, newer than this code ({known}):"
            " upgrade the hub"
        )


async def apply_migrations(conn: aiosqlite.Connection, now: str) -> list[str]:
    """Bring the schema up to date in one transaction; returns the migrations applied (their
    `Migration.label`)."""
    migrations = load_migrations()
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        rows = await conn.execute_fetchall("SELECT coalesce(max(version), 0) FROM schema_version")
        current = int(next(iter(rows))[0])
        check_not_newer(current, migrations)
        applied: list[str] = []
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now),
            )
            applied.append(migration.label)
        await conn.execute("COMMIT")
        return applied
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
