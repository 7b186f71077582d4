"""`chatserver migrate`, run as its user runs it: the real command in a process of its own,
on a fresh SQLite file and a fresh PostgreSQL database, twice, on bad URLs, and ten at once."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from chatserver.store import SQLiteStore
from chatserver.store._migrate import load_migrations as sqlite_migrations
from chatserver.store.postgres import PostgresStore
from chatserver.store.postgres._migrate import load_migrations as postgres_migrations
from tests.support.clock import python_command
from tests.support.postgres_server import PostgresServer
from tests.support.server import run_cli

from .conftest import seed


@pytest.fixture
def empty_url(postgres_server: PostgresServer) -> str:
    """A database with nothing in it: not a copy of the migrated template."""
    return postgres_server.create_database(f"empty_{random.getrandbits(40):x}")


def _versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()


async def test_a_fresh_sqlite_file_of_the_data_folder_is_migrated_then_up_to_date(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = run_cli(data, "migrate")
    assert first.returncode == 0, first.stderr
    labels = [m.label for m in sqlite_migrations()]
    assert first.stdout == f"{data / 'chat.db'}: applied {', '.join(labels)}\n"
    with sqlite3.connect(data / "chat.db") as conn:
        rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version")
        assert rows.fetchall() == [(m.version, m.name) for m in sqlite_migrations()]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    again = run_cli(data, "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{data / 'chat.db'}: nothing to apply, the schema is up to date\n"
    async with SQLiteStore(data / "chat.db") as store:  # the store opens on it as usual
        assert await seed(store) == ["v1-c0"]


async def test_a_fresh_postgresql_database_is_migrated_then_up_to_date(
    tmp_path: Path, empty_url: str
) -> None:
    # the URL from the environment, as a deployment gives it
    first = run_cli(tmp_path, "migrate", env={"CHATSERVER_DATABASE_URL": empty_url})
    assert first.returncode == 0, first.stderr
    labels = [m.label for m in postgres_migrations()]
    assert first.stdout.endswith(f": applied {', '.join(labels)}\n")
    assert _versions(empty_url) == [(m.version, m.name) for m in postgres_migrations()]

    again = run_cli(tmp_path, "migrate", "--database", empty_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(": nothing to apply, the schema is up to date\n")
    assert _versions(empty_url) == [(m.version, m.name) for m in postgres_migrations()]
    async with PostgresStore(empty_url) as store:
        assert await seed(store) == ["v1-c0"]
    assert not (tmp_path / "chat.db").exists()  # the data folder's SQLite file was not touched


@pytest.mark.slow  # ~12 s on the 2-core machine: ten Pythons importing the command line
def test_ten_commands_at_once_on_an_empty_database_migrate_it_once(
    tmp_path: Path, empty_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    procs = [
        subprocess.Popen(
            [*python_command("chatserver"), "--data", str(tmp_path / str(n)), "migrate"],
            env={**env, "CHATSERVER_DATABASE_URL": empty_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(10)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 10, [err for _, err in outputs]
    said = sorted(out.partition(": ")[2] for out, _ in outputs)
    labels = [m.label for m in postgres_migrations()]
    assert (
        said
        == [f"applied {', '.join(labels)}\n"] + ["nothing to apply, the schema is up to date\n"] * 9
    )
    assert _versions(empty_url) == [(m.version, m.name) for m in postgres_migrations()]


def test_an_unreachable_server_fails_clearly_without_the_password(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "migrate", "--database", "postgresql://chat:s3cret@127.0.0.1:1/chat")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        "chatserver: cannot open the PostgreSQL store postgresql://chat:***@127.0.0.1:1/chat: "
    )
    assert "s3cret" not in done.stderr
    assert not tmp_path.joinpath("chat.db").exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://chat:s3cret@db/chat", "unknown store scheme 'mysql://'"),
        ("postgresql://chat:s3cret@db:port/chat", "the port is not a number"),
        ("postgresql://chat:s3cret@db:5432", "no database"),
        ("sqlite://host/chat.db", "a sqlite URL has no host"),
    ],
)
def test_a_bad_url_is_refused_and_changes_nothing(tmp_path: Path, url: str, says: str) -> None:
    done = run_cli(tmp_path / "data", "migrate", "--database", url)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("chatserver: ") and says in done.stderr, done.stderr
    assert "s3cret" not in done.stderr
    assert not (tmp_path / "data").exists()


def test_a_sqlite_file_that_cannot_be_made_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_cli(tmp_path, "migrate", "--database", f"sqlite:///{blocker}/chat.db")
    assert done.returncode == 2
    assert done.stderr.startswith(f"chatserver: cannot open the SQLite store {blocker}/chat.db: ")
    assert blocker.read_text() == "not a folder"
