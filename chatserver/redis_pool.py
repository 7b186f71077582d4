"""The hub's Redis clients: bounded, queued access, so a burst becomes latency, not errors.

redis-py's default pool raises ``MaxConnectionsError`` the moment one more command is in flight
than it has connections (100 by default), and the hub awaits one Redis call per client command
concurrently, with nothing else bounding how many: 300 visitors starting at once got
``unavailable`` while Redis itself was idle. Here every command waits for one of
``redis_max_connections`` connections (FIFO, up to ``redis_pool_timeout_s``); Redis runs one
command at a time anyway, so more connections add no throughput, only memory and scheduling.
`unavailable` now means what it says: Redis did not answer (connection refused or reset, or no
connection came free within the timeout).

Two clients per process:

- ``main`` — every command a client frame causes, fan-out, the dashboards.
- ``control`` — its own two connections for what must not wait behind a burst: the node's
  heartbeat and the router tick (a node whose heartbeat is late by ``heartbeat_timeout_s`` is
  declared dead and its agents go offline), and ``/readyz``, which reports whether Redis
  answers, not whether the main pool is busy.

`/metrics` shows, per pool, the commands in flight (connections in use), the tasks waiting for
a connection, and how long they waited.

With Sentinel (`open_sentinel_pool`) the same pool asks the sentinels where the master is
before it opens each connection: `MeasuredSentinelPool` is redis-py's `SentinelConnectionPool`
on top of `MeasuredPool`, so the wait, its timeout and the figures are the same. A connection
that fails (the master died) or meets ``READONLY`` (it was demoted) is dropped, and the next one
goes to whichever master the sentinels name then; while none is named (the seconds of a
failover) a command fails at once with ``MasterNotFoundError``, a connection error.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

#: Connections of the control pool (heartbeat and tick take turns; /readyz shares them).
CONTROL_CONNECTIONS = 2

#: With Sentinel: how long asking one sentinel may take before the next is asked (seconds).
SENTINEL_TIMEOUT_S = 1.0
#: With Sentinel: connecting to the master, and waiting for its answer, give up after these
#: (seconds), so that a master that vanished without closing the connection (its machine, or
#: the network to it, gone) is left for the one the sentinels promote.
MASTER_CONNECT_TIMEOUT_S = 2.0
MASTER_SOCKET_TIMEOUT_S = 10.0


class PoolMetrics:
    """The pools' figures for `/metrics`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_flight = Gauge(
            "chat_redis_in_flight",
            "Redis connections in use by a command (commands in flight)",
            ["pool"],
            registry=registry,
        )
        self.waiting = Gauge(
            "chat_redis_pool_waiting",
            "Tasks waiting for a free Redis connection",
            ["pool"],
            registry=registry,
        )
        self.wait = Histogram(
            "chat_redis_pool_wait_seconds",
            "Time a command waited for a free Redis connection",
            ["pool"],
            buckets=(0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.timeouts = Counter(
            "chat_redis_pool_timeouts",
            "Commands refused because no connection came free within the pool timeout",
            ["pool"],
            registry=registry,
        )


class MeasuredPool(BlockingConnectionPool):
    """A blocking pool that reports waits and commands in flight."""

    def __init__(self, *, name: str, metrics: PoolMetrics | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.waiters = 0
        self._wait = metrics.wait.labels(name) if metrics else None
        self._timeouts = metrics.timeouts.labels(name) if metrics else None
        if metrics is not None:
            metrics.in_flight.labels(name).set_function(lambda: len(self._in_use_connections))
            metrics.waiting.labels(name).set_function(lambda: self.waiters)

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
        started = time.perf_counter()
        self.waiters += 1
        try:
            return await super().get_connection()  # type: ignore[no-untyped-call]  # untyped upstream
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):  # the wait ran out (redis-py's words)
                if self._timeouts is not None:
                    self._timeouts.inc()
            raise
        finally:
            self.waiters -= 1
            if self._wait is not None:
                self._wait.observe(time.perf_counter() - started)


def open_pool(
    url: str,
    *,
    name: str,
    max_connections: int,
    timeout_s: float,
    metrics: PoolMetrics | None = None,
) -> aioredis.Redis:
    """A client on a `MeasuredPool` of at most ``max_connections`` connections to ``url``."""
    pool = MeasuredPool.from_url(
        url,
        name=name,
        metrics=metrics,
        max_connections=max_connections,
        timeout=timeout_s,
        health_check_interval=10,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


class MeasuredSentinelPool(SentinelConnectionPool, MeasuredPool):
    """A `MeasuredPool` whose connections go to the master the sentinels name. It owns its
    `Sentinel` (the sentinels' own connections) and closes it with the pool."""

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def open_sentinel_pool(
    sentinels: tuple[tuple[str, int], ...],
    master: str,
    *,
    name: str,
    max_connections: int,
    timeout_s: float,
    metrics: PoolMetrics | None = None,
) -> aioredis.Redis:
    """A client on a `MeasuredSentinelPool` of at most ``max_connections`` connections to the
    master that ``sentinels`` monitor as ``master``."""
    manager = Sentinel(
        list(sentinels),
        sentinel_kwargs={
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            "socket_timeout": SENTINEL_TIMEOUT_S,
        },
    )
    client: aioredis.Redis = manager.master_for(
        master,
        connection_pool_class=MeasuredSentinelPool,
        name=name,
        metrics=metrics,
        max_connections=max_connections,
        timeout=timeout_s,
        health_check_interval=10,
        socket_connect_timeout=MASTER_CONNECT_TIMEOUT_S,
        socket_timeout=MASTER_SOCKET_TIMEOUT_S,
        socket_keepalive=True,
    )
    return client  # the client owns the pool, the pool the Sentinel: aclose() closes all


__all__ = [
    "CONTROL_CONNECTIONS",
    "MeasuredPool",
    "MeasuredSentinelPool",
    "PoolMetrics",
    "open_pool",
    "open_sentinel_pool",
]
