"""The deliverer: every hub process runs one; together they send each delivery once at a time.

Each round: a cheap look for anything due, then a claim (the store leases the head of each
endpoint×conversation chain to this process, so a conversation's events reach an endpoint in
order and two processes never send the same delivery at once), then the requests, side by side,
then each outcome recorded — delivered (any 2xx), or due again after a back-off: the first retry
``CHATSERVER_WEBHOOK_RETRY_BASE_S`` later, doubling to at most an hour, each delay drawn between
half and all of that (jitter, so endpoints coming back are not hit by every retry at once),
until ``CHATSERVER_WEBHOOK_RETRY_FOR_S`` after the event (24 h) — then it is given up.

A process that dies mid-request leaves its lease to run out; another process sends the delivery
again (at least once). Redirects are not followed (a 3xx is a failure), proxies from the
environment are not used, and every request goes to an address `targets.resolve` allowed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from chatserver.settings import Settings
from chatserver.store.base import ConversationRecord, StoreError, iso_now
from chatserver.store.interface import Store
from chatserver.store.webhooks import (
    DeliveryOutcome,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

from .payload import SIGNATURE_HEADER, build_body, event_id, sign
from .targets import TargetError, resolve

__all__ = ["Deliverer", "retry_delay"]

log = logging.getLogger("chatserver.webhooks")

#: Deliveries claimed per round, sent side by side.
BATCH = 16
#: The first bytes of an answer kept in the log.
SNIPPET = 500
#: The longest wait between two retries.
MAX_DELAY_S = 3600.0
USER_AGENT = "chatserver-webhooks/1"


def retry_delay(attempts: int, base_s: float, draw: Callable[[], float] = random.random) -> float:
    """The wait after the ``attempts``-th failed attempt: ``base·2^(attempts−1)`` capped at an
    hour, times a draw between ½ and 1."""
    ceiling = min(MAX_DELAY_S, base_s * float(2 ** min(max(attempts - 1, 0), 30)))
    return float(ceiling * (0.5 + 0.5 * draw()))


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


class Deliverer:
    """Sends what the outbox holds; `run` until ``closing()``."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.lease_s = settings.webhook_timeout_s + 30.0
        self.client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=BATCH, max_keepalive_connections=BATCH),
        )
        self._pruned = 0.0

    async def close(self) -> None:
        await self.client.aclose()

    async def run(self, closing: Callable[[], bool]) -> None:
        try:
            while not closing():
                sent = 0
                try:
                    sent = await self.round()
                    await self._prune()
                except (StoreError, OSError) as exc:
                    log.warning("webhook round failed", extra={"error": repr(exc)})
                if sent == 0:
                    await asyncio.sleep(self.settings.webhook_poll_s)
        finally:
            await self.close()

    async def round(self) -> int:
        """Claim what is due, send it, record the outcomes in one transaction; how many were
        sent."""
        now = self.clock()
        if not await self.store.due_deliveries(now):
            return 0
        batch = await self.store.claim_deliveries(
            now=now, owner=self.owner, lease_s=self.lease_s, limit=BATCH
        )
        if not batch:
            return 0
        endpoints = {w.id: w for w in await self.store.list_webhooks()}
        conversations: dict[str, ConversationRecord | None] = {}
        for d in batch:
            if d.body is None and d.conversation_id not in conversations:
                conversations[d.conversation_id] = await self.store.get_conversation(
                    d.conversation_id
                )
        sent = await asyncio.gather(
            *(self.deliver(d, endpoints.get(d.endpoint_id), conversations) for d in batch)
        )
        outcomes = [o for o in sent if o is not None]
        recorded = set(await self.store.finish_deliveries(self.owner, outcomes))
        for o in outcomes:
            log.info(
                "webhook delivery",
                extra={
                    "delivery": o.delivery_id,
                    "status": o.attempt.status_code,
                    "state": o.state,
                    "error": o.attempt.error,
                    "recorded": o.delivery_id in recorded,
                },
            )
        return len(batch)

    async def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned < 3600:
            return
        self._pruned = now
        cutoff = iso_now(now - self.settings.webhook_log_days * 86_400)
        await self.store.prune_deliveries(cutoff)

    async def _body(
        self, d: WebhookDelivery, conversations: dict[str, ConversationRecord | None]
    ) -> bytes | None:
        if d.body is not None:
            return d.body.encode()
        conv = conversations.get(d.conversation_id)
        events = await self.store.events(d.conversation_id, after_seq=d.seq - 1, limit=1)
        if conv is None or not events or events[0].seq != d.seq:
            return None
        return build_body(d.type, events[0], conv)

    async def deliver(
        self,
        d: WebhookDelivery,
        endpoint: WebhookEndpoint | None,
        conversations: dict[str, ConversationRecord | None],
    ) -> DeliveryOutcome | None:
        """Send one delivery; its outcome to record (None: its endpoint is gone)."""
        if endpoint is None:
            return None  # deleted meanwhile, with its deliveries
        body = await self._body(d, conversations)
        started = time.perf_counter()
        status: int | None = None
        snippet: str | None = None
        if body is None:
            error: str | None = "the event is no longer stored"
        else:
            status, snippet, error = await self._send(endpoint.url, endpoint.secret, d, body)
        latency_ms = (time.perf_counter() - started) * 1000
        now = self.clock()
        state: DeliveryState
        next_at = 0.0
        if status is not None and 200 <= status < 300:
            state = "delivered"
        elif body is None or now + 1 >= _epoch(d.created_at) + self.settings.webhook_retry_for_s:
            state = "failed"
        else:
            state = "pending"
            next_at = now + retry_delay(d.attempts + 1, self.settings.webhook_retry_base_s)
        attempt = WebhookAttempt(
            0, d.id, iso_now(now), status, round(latency_ms, 1), error, snippet
        )
        return DeliveryOutcome(d.id, attempt, (body or b"").decode(), state, next_at)

    async def _send(
        self, url: str, secret: str, d: WebhookDelivery, body: bytes
    ) -> tuple[int | None, str | None, str | None]:
        """One request: (status, the answer's first bytes, error)."""
        try:
            host, port, address = await resolve(url, self.settings.webhook_allow_networks)
        except TargetError as exc:
            return None, None, str(exc)
        target = httpx.URL(url).copy_with(host=str(address))
        default = 443 if target.scheme == "https" else 80
        headers = {
            "Host": host if port == default else f"{host}:{port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, body, int(self.clock())),
            "X-Chatserver-Event-Id": event_id(d.conversation_id, d.seq, d.type),
            "X-Chatserver-Event-Type": d.type,
            "X-Chatserver-Delivery": str(d.id),
        }
        extensions: dict[str, Any] = {"sni_hostname": host} if target.scheme == "https" else {}
        try:
            request = self.client.build_request(
                "POST", target, content=body, headers=headers, extensions=extensions
            )
            response = await self.client.send(request, stream=True)
            try:
                chunks = bytearray()
                async for chunk in response.aiter_raw():
                    chunks += chunk
                    if len(chunks) >= SNIPPET:
                        break
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return None, None, f"no answer within {self.settings.webhook_timeout_s:g} s"
        except httpx.HTTPError as exc:
            return None, None, f"could not send: {exc.__class__.__name__}: {exc}"[:SNIPPET]
        snippet = bytes(chunks[:SNIPPET]).decode("utf-8", "replace")
        code = response.status_code
        return code, snippet, None if 200 <= code < 300 else f"HTTP {code}"
