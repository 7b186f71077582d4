"""The store the tests' hub processes use: SQLite in their data folder, or PostgreSQL.

``CHATSERVER_TEST_STORE=postgresql`` (``./dev.sh test`` runs the hub-level folders a second
time so) gives every data folder a database of its own on one private PostgreSQL cluster per
test process (tests/conftest.py's ``postgres_server``): `ServerProcess` and `run_cli` pass its
URL as ``CHATSERVER_DATABASE_URL``, and a test reads what the hub stored through `open_test_store`
or `query` — never through the file — so one test body checks either backend. A test that is
about SQLite itself (its file, its locks) is marked ``sqlite_only`` and skipped on the other.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatserver.store import Store, open_store

if TYPE_CHECKING:
    from tests.support.postgres_server import PostgresServer

__all__ = [
    "BACKEND",
    "on_postgresql",
    "open_test_store",
    "query",
    "store_env",
    "store_url",
    "use_postgres",
]

#: ``sqlite`` (the default) or ``postgresql``.
BACKEND = os.environ.get("CHATSERVER_TEST_STORE", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"CHATSERVER_TEST_STORE={BACKEND!r}: expected sqlite or postgresql")

_server: PostgresServer | None = None
_template: str | None = None
_made: dict[Path, str] = {}


def on_postgresql() -> bool:
    return BACKEND == "postgresql"


def use_postgres(server: PostgresServer, template: str) -> None:
    """The cluster (and the migrated template database) data folders get their databases on."""
    global _server, _template
    _server, _template = server, template


def store_url(data_dir: Path) -> str:
    """The URL of the store a hub with this data folder uses."""
    if BACKEND == "sqlite":
        return f"sqlite:///{(data_dir / 'chat.db').resolve()}"
    key = data_dir.resolve()
    url = _made.get(key)
    if url is None:
        if _server is None:
            raise RuntimeError("CHATSERVER_TEST_STORE=postgresql but no cluster: see conftest")
        name = "hub_" + hashlib.sha1(str(key).encode()).hexdigest()[:16]
        url = _server.create_database(name, template=_template)
        _made[key] = url
    return url


def store_env(data_dir: Path) -> dict[str, str]:
    """What a hub process (or a command) needs in its environment to use that store."""
    return {} if BACKEND == "sqlite" else {"CHATSERVER_DATABASE_URL": store_url(data_dir)}


def open_test_store(data_dir: Path) -> Store:
    """The hub's store, unopened (``async with``): what a test adds before or reads after."""
    return open_store(store_url(data_dir))


def query(data_dir: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders, SQL both backends speak) on the hub's store."""
    if BACKEND == "sqlite":
        db = sqlite3.connect(f"file:{data_dir / 'chat.db'}?mode=ro", uri=True)
        try:
            return [tuple(row) for row in db.execute(sql, params)]
        finally:
            db.close()
    import psycopg

    with psycopg.connect(store_url(data_dir), autocommit=True) as pg:
        return [tuple(row) for row in pg.execute(sql.replace("?", "%s"), params).fetchall()]
