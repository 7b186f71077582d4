"""Everything one hub process runs on, built at start-up and torn down at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import routing
from chatserver import protocol as p
from chatserver.auth import token_hash
from chatserver.bus import Bus
from chatserver.hub import Hub
from chatserver.metrics import Metrics
from chatserver.service import Service
from chatserver.settings import Settings
from chatserver.store.base import AgentRecord, TranscriptStore, iso_now
from chatserver.store.sqlite import SQLiteStore

log = logging.getLogger("chatserver")


def load_routing_config(settings: Settings) -> routing.RoutingConfig:
    if settings.routing_config is None:
        return routing.default_config()
    return routing.load_config(settings.routing_config)


@dataclass
class HubContext:
    settings: Settings
    redis: aioredis.Redis
    store: TranscriptStore
    routing_config: routing.RoutingConfig
    router: routing.Router
    metrics: Metrics
    hub: Hub
    service: Service
    limits: p.Limits
    bus: Bus | None = None
    started_at: float = field(default_factory=time.time)
    epoch: str | None = None
    _closing: bool = False
    _tick_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings, routing_config: routing.RoutingConfig) -> HubContext:
        if settings.redis_url is None:
            raise RuntimeError("settings.redis_url must be set (the CLI starts a private Redis)")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(settings.db_path, synchronous=settings.sqlite_synchronous)
        await store.open()
        redis = aioredis.Redis.from_url(settings.redis_url, health_check_interval=10)
        router = routing.Router(
            redis, routing_config, node_id=settings.node_id, prefix=settings.redis_prefix
        )
        metrics = Metrics()
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
        hub.on_router_event = service.on_router_event
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
        ctx._tick_task = asyncio.create_task(ctx._tick_loop(), name="router-tick")
        return ctx

    async def on_bus_reconnect(self) -> None:
        await self.hub.refill_all()
        await self.resend_offers()

    async def resend_offers(self) -> None:
        for agent_id in list(self.hub.agents):
            await self.service.resend_offers(agent_id)

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
                result = await self.router.tick(now)
                await self.service.on_tick(result, now)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("router tick failed", extra={"error": repr(exc)})
            except Exception:
                log.exception("router tick failed")

    @property
    def epoch_key(self) -> str:
        return f"{self.settings.redis_prefix}:epoch"

    async def _read_epoch(self) -> str:
        """The id of Redis's current life: it changes when Redis is flushed or restarted empty."""
        await self.redis.set(self.epoch_key, secrets.token_hex(8), nx=True)
        value = await self.redis.get(self.epoch_key)
        return value.decode() if isinstance(value, bytes) else str(value)

    async def resync(self, now: float) -> None:
        """Redis lost its data: rebuild the live state from the store and from this node's
        connections. Every node re-registers its own agents and interests; one node (the
        first to take the lock) puts the waiting conversations back in the queue."""
        self.epoch = await self._read_epoch()
        log.warning("Redis lost its data; rebuilding live state", extra={"epoch": self.epoch})
        await self.router.heartbeat(now)
        for agent_id, clients in list(self.hub.agents.items()):
            client = next(iter(clients), None)
            if client is None:
                continue
            await self.service.register_agent(
                client.agent, now, status=self.hub.agent_status.get(agent_id, "away")
            )
        if self.bus is not None:
            for conversation_id in list(self.hub.by_conversation):
                await self.bus.add_interest(conversation_id)
        lock = f"{self.settings.redis_prefix}:resync:{self.epoch}"
        if await self.redis.set(lock, self.settings.node_id, nx=True, ex=300):
            waiting = await self.store.list_conversations(status={"queued", "offered"})
            for conv in sorted(waiting, key=lambda c: c.created_at):
                await self.service.requeue(conv, now)
        await self.hub.refill_all()
        await self.resend_offers()

    async def refresh_queue_gauges(self) -> None:
        """The router's queue figures, read when /metrics is scraped: a full snapshot costs
        milliseconds per thousand conversations, too much for every tick."""
        stats = await self.router.stats(time.time())
        for topic, figures in stats.get("topics", {}).items():
            self.metrics.queue_length.labels(topic).set(figures.get("waiting", 0))
            self.metrics.longest_wait.labels(topic).set(figures.get("longest_wait_s", 0) or 0)

    async def authenticate(self, token: str | None) -> AgentRecord | None:
        if not token:
            return None
        record = await self.store.get_token(token_hash(token))
        now = iso_now()
        if record is None or record.revoked_at is not None:
            return None
        if record.expires_at is not None and record.expires_at <= now:
            return None
        agent = await self.store.get_agent(record.agent_id)
        if agent is None or agent.disabled:
            return None
        return agent

    async def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(self.redis.ping(), 1.0)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc!r}"
        try:
            await asyncio.wait_for(self.store.get_agent("-"), 1.0)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {exc!r}"
        return checks

    async def close(self) -> None:
        self._closing = True
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._tick_task, 5)
        now = time.time()
        # Agents held here go offline now so their chats get the grace period to move elsewhere.
        for agent_id in list(self.hub.agents):
            with contextlib.suppress(Exception):
                await self.router.set_status(agent_id, "offline", now)
        for client in list(self.hub.clients):
            client.begin_close(1012, "server restarting; reconnect")
        await self.hub.close()
        if self.bus is not None:
            await self.bus.stop()
        await self.store.close()
        await self.redis.aclose()
