"""Sign-in throttling, and password checks that never stall the hub.

**Throttling** (`LoginThrottle`). Every attempt is counted, before its password is checked, on
three counters kept in Redis (so every hub process sees the same), each with a few free
attempts and then an exponential back-off:

| counter | free attempts | then waits | at most |
|---|---|---|---|
| this account from this address | 5 | 1 s, 2 s, 4 s, … | 15 min |
| this address, any account | 30 | 1 s, 2 s, 4 s, … | 15 min |
| this account, any address it has not signed in from | 10 | 1 s, 2 s, 4 s, … | 60 s |

An attempt that must wait is answered 429 with ``Retry-After`` and costs no password check.
A successful sign-in clears the account-and-address counter and takes its attempt back from the
other two. Counters are forgotten an hour after their last attempt.

Why a stranger cannot lock a real user out: the tight limit is per account *and* address, so
the attacker's failures slow the attacker's address only. The account-wide counter stops a
spread-out guess (many addresses, one account), but its wait is capped at a minute, and it does
not apply at all from an address the account signed in from in the last 30 days — the real
user's usual machines. Counting in-flight attempts too means 500 wrong passwords sent at once
get five password checks, not 500.

**Password checks off the loop** (`PasswordChecks`). argon2 takes ~90 ms of CPU on purpose;
run on the event loop, 50 concurrent wrong sign-ins delayed every chat message by seconds. Here
they run in one worker thread (argon2 releases the GIL, so the loop keeps a core), and at most
`MAX_QUEUED` wait for it; beyond that a sign-in is answered 429 at once.

With Redis out of reach the throttle lets attempts through (logged): sign-in needs only the
store, and the password checks stay bounded by `PasswordChecks` either way.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("chatserver.auth")
T = TypeVar("T")

#: Sign-ins waiting for the password thread beyond which new ones are refused at once.
MAX_QUEUED = 32
KEEP_MS = 3_600_000
TRUSTED_DAYS = 30


@dataclass(frozen=True)
class Limit:
    free: int
    first_wait_s: float
    max_wait_s: float


PAIR = Limit(5, 1.0, 900.0)
ADDRESS = Limit(30, 1.0, 900.0)
ACCOUNT = Limit(10, 1.0, 60.0)


class Busy(Exception):
    """Too many sign-ins waiting for a password check."""


class PasswordChecks:
    """argon2 hashing and verification in one thread of their own, with a bounded queue."""

    def __init__(self, workers: int = 1, max_queued: int = MAX_QUEUED) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._max = max_queued + workers
        self._pending = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._pending >= self._max:
            raise Busy("too many sign-ins at once")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LoginThrottle:
    """The three counters of the module docstring, in Redis under ``prefix``."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        source = resources.files("chatserver").joinpath("lua/login_attempt.lua").read_text()
        self._attempt = redis.register_script(source)

    def _keys(self, account: str, address: str) -> tuple[str, str, str]:
        p = f"{self.prefix}:login"
        return f"{p}:pair:{account}|{address}", f"{p}:addr:{address}", f"{p}:acct:{account}"

    def _trusted(self, account: str) -> str:
        return f"{self.prefix}:login:trusted:{account}"

    async def attempt(self, username: str, address: str, now: float) -> float:
        """Count an attempt; 0 if it may go ahead, else the seconds to wait first."""
        account = username.strip().casefold()
        pair, addr, acct = self._keys(account, address)
        try:
            trusted = await self.redis.zscore(self._trusted(account), address)
            keys, limits = [pair, addr], [PAIR, ADDRESS]
            if trusted is None or trusted < (now - TRUSTED_DAYS * 86_400) * 1000:
                keys.append(acct)
                limits.append(ACCOUNT)
            args: list[int] = [round(now * 1000), KEEP_MS]
            for limit in limits:
                args += [
                    limit.free,
                    round(limit.first_wait_s * 1000),
                    round(limit.max_wait_s * 1000),
                ]
            wait_ms = int(await self._attempt(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            log.warning(
                "sign-in throttle unavailable; attempt let through", extra={"error": repr(exc)}
            )
            return 0.0
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0.0

    async def succeeded(self, username: str, address: str, now: float) -> None:
        """The attempt was right: clear this pair, give the attempt back to the others, and
        remember the address as one this account signs in from."""
        account = username.strip().casefold()
        pair, addr, acct = self._keys(account, address)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(pair)
                for key in (addr, acct):
                    pipe.hincrby(key, "fails", -1)
                    pipe.pexpire(key, KEEP_MS)
                pipe.zadd(self._trusted(account), {address: round(now * 1000)})
                pipe.pexpire(self._trusted(account), TRUSTED_DAYS * 86_400_000)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("sign-in throttle unavailable", extra={"error": repr(exc)})


__all__ = ["ACCOUNT", "ADDRESS", "PAIR", "Busy", "Limit", "LoginThrottle", "PasswordChecks"]
