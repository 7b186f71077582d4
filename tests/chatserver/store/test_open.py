"""`open_store`: which URLs name which store, and a clear refusal for the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatserver.store import SQLiteStore, open_store
from chatserver.store.postgres import PostgresStore


def test_sqlite_urls_and_bare_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/chat.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == Path("data/chat.db")
    absolute = open_store(f"sqlite:///{tmp_path}/chat.db")
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == tmp_path / "chat.db"
    bare = open_store(tmp_path / "bare.db")
    assert isinstance(bare, SQLiteStore)
    assert bare.path == tmp_path / "bare.db"


def test_synchronous_from_the_url_or_the_default(tmp_path: Path) -> None:
    full = open_store(f"sqlite:///{tmp_path}/a.db?synchronous=full")
    assert isinstance(full, SQLiteStore) and full.synchronous == "FULL"
    default = open_store(f"sqlite:///{tmp_path}/a.db", synchronous="FULL")
    assert isinstance(default, SQLiteStore) and default.synchronous == "FULL"
    plain = open_store(tmp_path / "a.db")
    assert isinstance(plain, SQLiteStore) and plain.synchronous == "NORMAL"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db.example/chat", "unknown store scheme 'mysql://'"),
        ("postgresql://db.example:port/chat", "the port is not a number"),
        ("postgresql:///chat", "no host"),
        ("postgresql://db.example", "no database"),
        ("postgresql://db.example/chat?sslmode", "not a PostgreSQL URL libpq understands"),
        ("sqlite://host/chat.db", "a sqlite URL has no host"),
        ("sqlite:///", "no file"),
        ("sqlite:///chat.db?journal=wal", "unknown option 'journal'"),
        ("sqlite:///chat.db?synchronous=off", "synchronous is NORMAL or FULL"),
        ("", "no store given"),
    ],
)
def test_what_it_refuses_says_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_postgresql_urls() -> None:
    for url in (
        "postgresql://chat:secret@db.example:5433/chat",
        "postgres://db.example/chat?sslmode=require",
        "postgresql:///chat?host=/run/postgresql",
    ):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        assert store.url == url
    assert "secret" not in repr(open_store("postgresql://chat:secret@db.example/chat"))


def test_a_refused_postgresql_url_does_not_repeat_its_password() -> None:
    with pytest.raises(ValueError, match="no database") as info:
        open_store("postgresql://chat:s3cret@db.example:5432")
    assert "s3cret" not in str(info.value)
    assert "chat:***@db.example" in str(info.value)


async def test_postgresql_gives_analytics_snapshots(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        with store.snapshot() as snapshot:
            assert str(snapshot.cursor).startswith("pg1.")
            assert len(snapshot.key("seal")) == 32


async def test_the_store_it_opens_works(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/hub.db") as store:
        assert await store.get_routing_document() is None
    assert (tmp_path / "hub.db").exists()
