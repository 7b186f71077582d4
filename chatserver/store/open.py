"""`open_store`: the `Store` a URL names.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (three slashes then the path,
as SQLAlchemy spells it), or a bare file path, which means SQLite too. ``?synchronous=FULL``
makes every commit survive power loss (see `SQLiteStore`); the keyword argument of the same
name is the default when the URL does not say. Any other scheme is refused with a `ValueError`
that names the ones this hub knows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from .interface import Store
from .sqlite import SQLiteStore

__all__ = ["SCHEMES", "open_store"]

#: The URL schemes `open_store` knows.
SCHEMES = ("sqlite",)


def open_store(url: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Store:
    """The store at ``url``, not yet opened: ``await store.open()`` (or ``async with``) it."""
    text = str(url)
    scheme, sep, _ = text.partition("://")
    if not sep:
        if not text:
            raise ValueError("no store given: expected sqlite:///path/to/file.db or a file path")
        return SQLiteStore(text, synchronous=synchronous)
    if scheme != "sqlite":
        raise ValueError(
            f"unknown store scheme {scheme + '://'!r} in {text!r}: this hub knows "
            + ", ".join(f"{s}:///path" for s in SCHEMES)
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
