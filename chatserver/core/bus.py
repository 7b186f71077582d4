"""Cross-node delivery through Redis pub/sub.

Guarantee: **at most once**, in no particular order across publishers. Pub/sub drops messages
while a subscriber is disconnected and two nodes' publications may interleave; that is fine
because every stored event is committed to the transcript store *before* it is published, and
the receiving side (``delivery.Subscription``) fills any gap from the store. The bus only makes
delivery fast; the store makes it complete.

Each node listens on its own channel ``{prefix}:node:<node_id>`` and on the router's event
channel. A node that holds a participant of a conversation adds itself to that conversation's
interest set ``{prefix}:cn:<conversation_id>``; publishing queues the message, and what one
turn of the event loop queued goes out through ``lua/fanout.lua`` in one round trip, to every
interested node but the publisher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("chatserver.bus")

INTEREST_TTL_S = 24 * 3600
FANOUT_BATCH = 500

Handler = Callable[[str, dict[str, Any]], None]


class Bus:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        node_id: str,
        router_channel: str,
        on_message: Handler,
        on_reconnect: Callable[[], Awaitable[None]],
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.node_id = node_id
        self.node_channel = f"{prefix}:node:{node_id}"
        self.router_channel = router_channel
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._fanout = redis.register_script(
            resources.files("chatserver").joinpath("lua/fanout.lua").read_text()
        )
        self._outbox: list[tuple[str, bytes]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False

    def interest_key(self, conversation_id: str) -> str:
        return f"{self.prefix}:cn:{conversation_id}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="bus-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        self._stopping = True
        if self._flusher is not None:
            self._flusher.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def add_interest(self, conversation_id: str) -> None:
        key = self.interest_key(conversation_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, self.node_id)
            pipe.expire(key, INTEREST_TTL_S)
            await pipe.execute()

    async def drop_interest(self, conversation_id: str) -> None:
        await self.redis.srem(self.interest_key(conversation_id), self.node_id)

    def publish(self, conversation_id: str, message: dict[str, Any]) -> None:
        """Queue for the other interested nodes, without waiting. Everything queued in one turn
        of the event loop goes out in one script call (one round trip however many messages).
        Failures are logged, not raised: the event is already stored and every receiver fills
        gaps from the store."""
        self._outbox.append((conversation_id, orjson.dumps(message)))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._outbox:
                batch, self._outbox = self._outbox[:FANOUT_BATCH], self._outbox[FANOUT_BATCH:]
                try:
                    await self._fanout(
                        keys=[self.interest_key(c) for c, _ in batch],
                        args=[f"{self.prefix}:node:", self.node_id, *(m for _, m in batch)],
                    )
                except RedisError as exc:
                    log.warning(
                        "bus publish failed", extra={"error": str(exc), "dropped": len(batch)}
                    )
        finally:
            self._flusher = None

    async def _listen(self) -> None:
        backoff = 0.1
        first = True
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.node_channel, self.router_channel)
                self._ready.set()
                if not first:
                    log.info("bus reconnected")
                    await self._on_reconnect()
                first = False
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    try:
                        data = orjson.loads(message["data"])
                    except orjson.JSONDecodeError:
                        log.warning(
                            "bus dropped a frame that is not JSON", extra={"channel": channel}
                        )
                        continue
                    try:
                        self._on_message(channel, data)
                    except Exception:
                        log.exception("bus handler failed", extra={"channel": channel})
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if self._stopping:
                    return
                log.warning(
                    "bus lost Redis; retrying", extra={"error": str(exc), "retry_in_s": backoff}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # the connection may already be gone
                    pass
