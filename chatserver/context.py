"""Everything one hub process runs on, built at start-up and torn down at shutdown.

What admins edit at run time reaches every process through the tick: the writer commits the
change to the store, then appends an entry to the Redis stream ``{prefix}:changes``; each
process reads the stream at every tick and follows — a new routing document (topics and
languages) is laid over the routing file's configuration and the router switched to it; an
agent disabled, demoted or given a new password has its sockets on this process closed (4401),
and the records of other changed agents are refreshed. The stream is only the fast path: every
`ROUTING_CHECK_S` each process compares the document's version in the store with its own, so a
change whose announcement was lost (Redis down at that moment) is still picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

import routing
from chatserver import protocol as p
from chatserver.analytics import rollups
from chatserver.core.accounts import token_hash
from chatserver.core.bus import Bus
from chatserver.core.changes import announce, changes_key
from chatserver.core.delivery import Client
from chatserver.core.hub import Hub
from chatserver.core.routing_config import stored_routing
from chatserver.core.service import Service
from chatserver.metrics import Metrics
from chatserver.probes import Probe
from chatserver.redis_pool import (
    CONTROL_CONNECTIONS,
    PoolMetrics,
    open_pool,
    open_sentinel_pool,
)
from chatserver.settings import Settings
from chatserver.store import Store, open_store
from chatserver.store.base import AgentRecord, TokenRecord, iso_now
from chatserver.web.address_rate import PerAddressRate
from chatserver.web.login_throttle import LoginThrottle, PasswordChecks
from chatserver.web.sessions import OVERLAP_S, Sessions
from chatserver.webhooks import Deliverer

log = logging.getLogger("chatserver")

#: How often each process checks the stored routing document's version even without news.
ROUTING_CHECK_S = 10.0

#: The epoch key holds ``<run_id>:<random>``, the run_id of the Redis server (process) that
#: wrote it. Flushed or restarted empty, Redis has no key; restarted from disk, or replaced by a
#: replica that Sentinel promoted, it holds one another server wrote — the data may lack that
#: server's last writes (a replica trails its master), so it is a new epoch too, and the hubs
#: rebuild what they know. The first process to notice writes the new epoch; the others read it.
EPOCH_LUA = """
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then return current end
local fresh = ARGV[1] .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], fresh)
return fresh
"""


@dataclass
class HubContext:
    settings: Settings
    redis: aioredis.Redis
    store: Store
    routing_config: routing.RoutingConfig
    router: routing.Router
    metrics: Metrics
    hub: Hub
    service: Service
    limits: p.Limits
    bus: Bus | None = None
    #: Heartbeat, tick, epoch, admins' changes and /readyz: never behind a burst (redis_pool).
    control: aioredis.Redis | None = None
    started_at: float = field(default_factory=time.time)
    epoch: str | None = None
    #: The routing file's configuration (or the shipped one): the base the document is laid on.
    file_routing_config: routing.RoutingConfig | None = None
    #: The stored routing document's version in force here; 0: the file's topics and languages.
    routing_version: int = 0
    #: Admins' routing edits on this process take turns (across processes: compare and set).
    routing_edits: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Agent sockets by session token, to close when the session ends (chatserver.web.sessions).
    sessions: Sessions = field(default_factory=Sessions)
    #: argon2 off the event loop, bounded (chatserver.web.login_throttle).
    passwords: PasswordChecks = field(default_factory=PasswordChecks)
    login_throttle: LoginThrottle | None = None
    #: New visitor tokens per client address (anonymous hellos).
    new_visitors: PerAddressRate = field(default_factory=lambda: PerAddressRate(60))
    #: Draining before a restart (SIGTERM): /readyz fails, new sockets are refused, this node's
    #: agents get no new offers (`begin_drain`).
    draining: bool = False
    #: Set once this node's agents were taken offline and its sockets asked to close (1012).
    stopping: bool = False
    _drained: bool = False
    _changes_seen: str = "0-0"
    _epoch_script: AsyncScript | None = None
    _routing_checked_at: float = 0.0
    _closing: bool = False
    #: The process's background loops: the router's tick, the rollups, the webhooks.
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _redis_probe: Probe = field(init=False)
    _store_probe: Probe = field(init=False)

    def __post_init__(self) -> None:
        self._redis_probe = Probe(lambda: self.ctl.ping())
        self._store_probe = Probe(lambda: self.store.ping())

    @classmethod
    async def open(cls, settings: Settings, routing_config: routing.RoutingConfig) -> HubContext:
        if settings.redis_url is None and not settings.redis_sentinels:
            raise RuntimeError("settings.redis_url must be set (the CLI starts a private Redis)")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.database, synchronous=settings.sqlite_synchronous)
        await store.open()
        file_config = routing_config
        routing_config, routing_version = await stored_routing(store, file_config)
        metrics = Metrics()
        pools = PoolMetrics(metrics.registry)
        redis = redis_client(settings, "main", settings.redis_max_connections, pools)
        control = redis_client(settings, "control", CONTROL_CONNECTIONS, pools)
        router = routing.Router(
            redis,
            routing_config,
            node_id=settings.node_id,
            prefix=settings.redis_prefix,
            control=control,
        )
        hub = Hub(store, metrics, gap_fill_delay_s=settings.gap_fill_delay_s)
        service = Service(settings, store, router, hub, metrics, routing_config)
        limits = p.Limits(
            max_frame_bytes=settings.max_frame_bytes,
            hello_timeout_s=settings.hello_timeout_s,
            max_text_chars=settings.max_text_chars,
            rate_per_s=settings.rate_per_s,
            rate_burst=settings.rate_burst,
            topics=tuple(routing_config.topics),
            languages=tuple(routing_config.languages),
        )
        ctx = cls(settings, redis, store, routing_config, router, metrics, hub, service, limits)
        ctx.control = control
        ctx.login_throttle = LoginThrottle(redis, settings.redis_prefix)
        ctx.new_visitors = PerAddressRate(settings.new_visitors_per_minute)
        ctx.file_routing_config = file_config
        ctx.routing_version = routing_version
        ctx._routing_checked_at = time.time()
        hub.on_router_event = service.router_events.on_router_event
        service.bots.use_redis(redis, settings.redis_prefix)
        service.session_alive = ctx.session_alive
        ctx.bus = Bus(
            redis,
            prefix=settings.redis_prefix,
            node_id=settings.node_id,
            router_channel=router.events_channel,
            on_message=hub.on_bus_message,
            on_reconnect=ctx.on_bus_reconnect,
        )
        hub.bus = ctx.bus
        await ctx.bus.start()
        await router.heartbeat(time.time())
        ctx.epoch = await ctx._read_epoch()
        ctx._changes_seen = await ctx._last_change_id()
        closing = lambda: ctx._closing  # noqa: E731
        ctx._tasks.append(asyncio.create_task(ctx._tick_loop(), name="router-tick"))
        if settings.rollup_interval_s > 0:
            keep = rollups.keep(store, settings.rollup_interval_s, closing)
            ctx._tasks.append(asyncio.create_task(keep, name="rollups"))
        deliverer = Deliverer(store, settings, owner=settings.node_id)
        ctx._tasks.append(asyncio.create_task(deliverer.run(closing), name="webhooks"))
        return ctx

    async def on_bus_reconnect(self) -> None:
        await self.hub.refill_all()
        await self.service.recovery.resend_all_offers()

    async def _tick_loop(self) -> None:
        interval = self.settings.tick_interval_s
        # The flag, not only the cancel: a cancellation that lands inside a Redis call can be
        # absorbed by the client's retry logic, and the loop must still end.
        while not self._closing:
            await asyncio.sleep(interval)
            now = time.time()
            try:
                if await self._read_epoch() != self.epoch:
                    await self.resync(now)
                await self.router.heartbeat(now)
                if self.draining and not self._drained:
                    await self._drain_agents(now)  # Redis failed when the drain began
                result = await self.router.tick(now)
                await self.service.on_tick(result, now)  # and the queue positions
                await self.follow_sessions(now)
                # Last, so that trouble reading admins' changes never delays the heartbeat.
                await self.follow_changes(now)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("router tick failed", extra={"error": repr(exc)})
            except Exception:
                log.exception("router tick failed")

    @property
    def ctl(self) -> aioredis.Redis:
        """The control client (see chatserver.redis_pool)."""
        return self.control if self.control is not None else self.redis

    @property
    def epoch_key(self) -> str:
        return f"{self.settings.redis_prefix}:epoch"

    async def _read_epoch(self) -> str:
        """The id of the live state's current life in Redis: a new one when Redis was flushed,
        restarted, or replaced by a replica that Sentinel promoted (see `EPOCH_LUA`)."""
        try:
            info = await self.ctl.info("server")
            run_id = str(info.get("run_id", ""))
        except ResponseError:  # INFO renamed away: flushes and empty restarts still show
            run_id = ""
        if self._epoch_script is None:
            self._epoch_script = self.ctl.register_script(EPOCH_LUA)
        value = await self._epoch_script(keys=[self.epoch_key], args=[run_id, secrets.token_hex(8)])
        return _text(value)

    async def resync(self, now: float) -> None:
        """Redis lost its data, or may have (another server holds it now): rebuild the live
        state from the store and from this node's connections. Every node re-registers its own
        agents and interests; one node (the first to take the lock) puts the waiting
        conversations back in the queue. What is there already is kept: each step only adds
        what is missing. The new epoch is taken last, so that a rebuild cut short (Redis
        failing again midway) is run again at the next tick."""
        epoch = await self._read_epoch()
        log.warning(
            "Redis lost its data or was replaced; rebuilding live state", extra={"epoch": epoch}
        )
        # The changes stream: a promoted replica (or a restart from disk) still holds the last
        # entry read here, so reading goes on from it; else the stream went with the data, and
        # anything appended from now on is news.
        seen = self._changes_seen
        if seen != "0-0" and not await self.ctl.xrange(self.changes_key, seen, seen, count=1):
            self._changes_seen = "0-0"
        await self.reload_routing(now)
        await self.router.heartbeat(now)
        recovery = self.service.recovery
        await recovery.reregister_agents(now)
        await self.hub.renew_interests()
        lock = f"{self.settings.redis_prefix}:resync:{epoch}"
        node = self.settings.node_id
        if (
            await self.redis.set(lock, node, nx=True, ex=300)
            or _text(await self.redis.get(lock)) == node
        ):
            await self.service.after_redis_loss(now)
        await self.hub.refill_all()
        await recovery.resend_all_offers()
        self.epoch = epoch

    # -- changes made by admins ------------------------------------------------------------
    @property
    def changes_key(self) -> str:
        return changes_key(self.settings.redis_prefix)

    async def _last_change_id(self) -> str:
        last = await self.redis.xrevrange(self.changes_key, count=1)
        return _text(last[0][0]) if last else "0-0"

    async def announce(self, kind: str, **fields: str) -> None:
        """Tell every hub process — this one too, at its next tick — of a change an admin made
        (already committed to the store): see `chatserver.core.changes`."""
        await announce(self.redis, self.settings.redis_prefix, kind, **fields)

    async def follow_changes(self, now: float) -> None:
        """Apply the changes announced since the last call (see the module docstring)."""
        entries: Any = await self.ctl.xread({self.changes_key: self._changes_seen}, count=500)
        routing_news = False
        agents: dict[str, bool] = {}
        for _stream, items in entries or ():
            for entry_id, raw in items:
                self._changes_seen = _text(entry_id)
                entry = {_text(k): _text(v) for k, v in raw.items()}
                if entry.get("kind") == "routing":
                    routing_news = True
                elif entry.get("kind") == "agent" and entry.get("agent_id"):
                    agent_id = entry["agent_id"]
                    agents[agent_id] = agents.get(agent_id, False) or entry.get("revoke") == "1"
        if routing_news or now - self._routing_checked_at >= ROUTING_CHECK_S:
            await self.reload_routing(now)
        for agent_id, revoke in agents.items():
            await self.refresh_agent(agent_id, revoke=revoke)

    async def reload_routing(self, now: float) -> bool:
        """Switch to the stored routing document if its version is not the one in force."""
        self._routing_checked_at = now
        base = self.file_routing_config or self.routing_config
        config, version = await stored_routing(self.store, base)
        if version == self.routing_version:
            return False
        await self.apply_routing(config, version, now)
        return True

    async def apply_routing(self, config: routing.RoutingConfig, version: int, now: float) -> None:
        """Route with ``config`` from now on: the router (and the waiting conversations), the
        service, the protocol's topic and language lists, the pages that list them."""
        await self.router.reconfigure(config, now)
        self.routing_config = config
        self.service.router_config = config
        self.limits = dataclasses.replace(
            self.limits, topics=tuple(config.topics), languages=tuple(config.languages)
        )
        self.routing_version = version
        log.info(
            "routing configuration changed",
            extra={
                "version": version,
                "topics": list(config.topics),
                "languages": list(config.languages),
            },
        )

    async def refresh_agent(self, agent_id: str, *, revoke: bool = False) -> int:
        """An admin changed this agent: close its sockets here if it was disabled or its
        sessions revoked, else give them the new record. Returns the sockets closed."""
        clients = self.hub.agent_clients(agent_id)
        if not clients:
            return 0
        record = await self.store.get_agent(agent_id)
        if record is None or record.disabled or revoke:
            for client in clients:
                client.begin_close(
                    p.CloseCode.NOT_AUTHENTICATED, "your session was ended by an admin"
                )
            log.info("agent sessions closed", extra={"agent_id": agent_id, "sockets": len(clients)})
            return len(clients)
        for client in clients:
            client.agent = record
        return 0

    async def refresh_queue_gauges(self) -> None:
        """The router's queue figures, read when /metrics is scraped: a full snapshot costs
        milliseconds per thousand conversations, too much for every tick."""
        stats = await self.router.stats(time.time())
        for topic, figures in stats.get("topics", {}).items():
            self.metrics.queue_length.labels(topic).set(figures.get("waiting", 0))
            self.metrics.longest_wait.labels(topic).set(figures.get("longest_wait_s", 0) or 0)

    async def authenticate(self, token: str | None) -> AgentRecord | None:
        found = await self.session(token)
        return None if found is None else found[0]

    async def session(self, token: str | None) -> tuple[AgentRecord, TokenRecord] | None:
        """The agent a live token belongs to, and the token's record; None if it is unknown,
        revoked, expired, or its agent disabled."""
        return await self._live_session(token_hash(token)) if token else None

    async def _live_session(self, hashed: str) -> tuple[AgentRecord, TokenRecord] | None:
        record = await self.store.get_token(hashed)
        if record is None or record.revoked_at is not None:
            return None
        if record.expires_at is not None and record.expires_at <= iso_now():
            return None
        agent = await self.store.get_agent(record.agent_id)
        if agent is None or agent.disabled:
            return None
        return agent, record

    async def session_alive(self, client: Client) -> bool:
        """Whether the session this agent socket signed in with is still live (the store's
        word, not the last tick's): asked before an accept, so that an agent revoked a moment
        ago takes no chat in the tick before its socket closes."""
        hashed = self.sessions.token_of(client)
        return hashed is not None and await self._live_session(hashed) is not None

    async def follow_sessions(self, now: float) -> int:
        """Close, with 4401, this process's sockets of sessions that ended since the last look
        (revoked anywhere, by anyone; or expired). Returns how many were closed."""
        since = (self.sessions.checked_at or self.started_at) - OVERLAP_S
        revoked = await self.store.tokens_revoked_since(iso_now(since))
        self.sessions.checked_at = now
        ended = self.sessions.ended({token for token, _agent in revoked})
        expired = self.sessions.expired(now)
        for client in ended:
            client.begin_close(
                p.CloseCode.NOT_AUTHENTICATED, "your session was ended; sign in again"
            )
        for client in expired:
            client.begin_close(p.CloseCode.NOT_AUTHENTICATED, "your session expired; sign in again")
        if ended or expired:
            log.info(
                "agent sessions closed",
                extra={"revoked": len(ended), "expired": len(expired)},
            )
        return len(ended) + len(expired)

    async def ready(self) -> dict[str, Any]:
        """Redis and the store, checked side by side, each answering within a second
        (`chatserver.probes.Probe`)."""
        redis, store = await asyncio.gather(self._redis_probe(), self._store_probe())
        return {"redis": redis, "store": store}

    # -- drain and shutdown ----------------------------------------------------------------
    async def begin_drain(self) -> None:
        """A restart is coming (SIGTERM): /readyz and new WebSocket handshakes answer 503, and
        this node's agents go away in the router (`routing.Router.drain`: chats kept, open
        offers moved, no new ones) while everything open is still served. If Redis fails now,
        the tick tries again."""
        self.start_draining()
        if self._drained:
            return
        try:
            await self._drain_agents(time.time())
        except (RedisError, OSError) as exc:
            log.warning("drain: agents not set away yet", extra={"error": repr(exc)})

    def start_draining(self) -> None:
        """`begin_drain`'s flags, at once: /readyz fails from the next request on."""
        self.draining = True
        self.service.draining = True

    async def _drain_agents(self, now: float) -> None:
        drained = await self.router.drain(now)
        self._drained = True
        for agent_id in drained:
            self.hub.set_agent_status(agent_id, "away")
        log.info("draining", extra={"node": self.settings.node_id, "agents_away": len(drained)})

    async def close_sockets(self) -> None:
        """The end of the drain: the agents held here go offline first (so their chats get the
        grace period to move, and an agent already back on another process is not marked
        offline after it), then every socket is asked to close with 1012 after what is queued
        for it; clients reconnect to another process and resume by `seq`."""
        if self.stopping:
            return
        self.stopping = True
        now = time.time()
        for agent_id, _client in self.hub.local_agents():
            with contextlib.suppress(Exception):
                await self.router.set_status(agent_id, "offline", now)
        for client in list(self.hub.clients):
            client.begin_close(1012, "server restarting; reconnect")

    async def sockets_closed(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until every socket has ended; whether they did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hub.emptied(), timeout)
        return not self.hub.clients

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 5)
        await self.close_sockets()
        await self.hub.close()
        if self.bus is not None:
            await self.bus.stop()
        await self.store.close()
        self.passwords.close()
        await self.redis.aclose()
        if self.control is not None:
            await self.control.aclose()


def redis_client(
    settings: Settings, name: str, max_connections: int, metrics: PoolMetrics | None
) -> aioredis.Redis:
    """One of the process's Redis clients (see chatserver.redis_pool): to the master the
    sentinels name, with ``REDIS_SENTINELS``; else to ``REDIS_URL``."""
    if settings.redis_sentinels:
        assert settings.redis_sentinel_master is not None  # the settings check both are set
        return open_sentinel_pool(
            settings.redis_sentinels,
            settings.redis_sentinel_master,
            name=name,
            max_connections=max_connections,
            timeout_s=settings.redis_pool_timeout_s,
            metrics=metrics,
        )
    assert settings.redis_url is not None
    return open_pool(
        settings.redis_url,
        name=name,
        max_connections=max_connections,
        timeout_s=settings.redis_pool_timeout_s,
        metrics=metrics,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
