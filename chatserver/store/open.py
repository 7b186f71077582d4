"""`open_store`: the `Store` a URL names.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (three slashes then the path,
as SQLAlchemy spells it), or a bare file path, which means SQLite too. ``?synchronous=FULL``
makes every commit survive power loss (see `SQLiteStore`); the keyword argument of the same
name is the default when the URL does not say.

``postgresql://user:password@host:port/database`` (or ``postgres://``) names a
`chatserver.store.postgres.PostgresStore`; the query string may carry libpq's parameters
(``?sslmode=require``, ``?host=/run/postgresql`` for a Unix socket …). psycopg is imported only
when such a URL is opened.

Any other scheme is refused with a `ValueError` that names the ones this hub knows; so is a
URL that is malformed (and the message never repeats its password).

`migrate_store` applies the pending migrations of the store a URL names, under the lock the
store's `open` takes for them, without opening it for use (``chatserver migrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from .interface import Store
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["SCHEMES", "Migrated", "migrate_store", "open_store"]

#: The URL schemes `open_store` knows.
SCHEMES = ("sqlite", "postgresql", "postgres")

_EXAMPLES = "sqlite:///path/to/file.db, postgresql://user:password@host:port/database"


def open_store(url: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Store:
    """The store at ``url``, not yet opened: ``await store.open()`` (or ``async with``) it."""
    return _store(url, synchronous)


@dataclass(frozen=True, slots=True)
class Migrated:
    """What `migrate_store` did: the store (its URL without the password, or its file) and the
    migrations applied, by name (``0001_initial`` …); none if it was up to date."""

    store: str
    applied: tuple[str, ...]


async def migrate_store(url: str | Path) -> Migrated:
    """Apply the pending migrations of the store at ``url``; `ValueError` for a URL that names
    none, `UnavailableError` when it cannot be reached (never with the password)."""
    store = _store(url, "NORMAL")
    shown = str(store.path) if isinstance(store, SQLiteStore) else _redacted(str(url))
    return Migrated(shown, tuple(await store.migrate()))


def _store(url: str | Path, synchronous: Literal["NORMAL", "FULL"]) -> SQLiteStore | PostgresStore:
    text = str(url)
    scheme, sep, _ = text.partition("://")
    if not sep:
        if not text:
            raise ValueError("no store given: expected sqlite:///path/to/file.db or a file path")
        return SQLiteStore(text, synchronous=synchronous)
    if scheme in ("postgresql", "postgres"):
        return _postgres(text)
    if scheme != "sqlite":
        raise ValueError(
            f"unknown store scheme {scheme + '://'!r} in {_redacted(text)!r}: this hub knows "
            + _EXAMPLES
        )
    parts = urlsplit(text)
    if parts.netloc:
        raise ValueError(
            f"{text!r}: a sqlite URL has no host; write sqlite:///relative.db or"
            " sqlite:////absolute.db"
        )
    path = unquote(parts.path[1:])
    if not path:
        raise ValueError(f"{text!r}: no file; write sqlite:///path/to/file.db")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise ValueError(f"{text!r}: unknown option {unknown[0]!r} (known: synchronous)")
    mode = options.get("synchronous", [synchronous])[-1].upper()
    if mode == "NORMAL":
        return SQLiteStore(path, synchronous="NORMAL")
    if mode == "FULL":
        return SQLiteStore(path, synchronous="FULL")
    raise ValueError(f"{text!r}: synchronous is NORMAL or FULL, not {mode!r}")


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _postgres(url: str) -> PostgresStore:
    shown = _redacted(url)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{shown!r}: the port is not a number from 1 to 65535") from exc
    options = parse_qs(parts.query, keep_blank_values=True)
    if not parts.hostname and "host" not in options:
        raise ValueError(f"{shown!r}: no host; write postgresql://user:password@host:port/database")
    if not unquote(parts.path.lstrip("/")) and "dbname" not in options:
        raise ValueError(
            f"{shown!r}: no database; write postgresql://user:password@host:port/database"
        )
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
        raise ValueError(f"{shown!r}: not a PostgreSQL URL libpq understands") from exc
    from .postgres import PostgresStore

    return PostgresStore(url)
