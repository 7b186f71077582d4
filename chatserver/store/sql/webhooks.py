"""Webhook endpoints and the outbox (`Webhooks`), on either backend.

A claim is one UPDATE … RETURNING whose WHERE names the lease it takes over (free, or expired):
on SQLite write transactions run one at a time; on PostgreSQL (READ COMMITTED) a second claimant
of the same row waits for the first's row lock, re-checks the WHERE on the row the first
committed, finds it leased and skips it. `finish_delivery` names the owner in its WHERE the same
way, so a sender whose lease ran out (a stalled process) writes nothing over its successor's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from ..base import NotFoundError
from ..webhooks import (
    WEBHOOK_TYPES,
    DeliveryOutcome,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from . import _codec as codec
from .dialect import Row, Tx
from .part import SQLPart

__all__ = ["WebhooksPart"]

_ENDPOINT = "id, url, secret, events, created_at, updated_at, description, enabled"
_DELIVERY = (
    "id, endpoint_id, conversation_id, seq, type, created_at, state, attempts, next_at, body,"
    " finished_at, redelivery_of"
)
_ATTEMPT = "id, delivery_id, ts, status_code, latency_ms, error, response"
#: Deliveries a prune deletes per transaction.
PRUNE_BATCH = 2_000
_FIELDS = frozenset({"url", "secret", "events", "description", "enabled", "updated_at"})


def _events_text(events: Sequence[str]) -> str:
    unknown = [e for e in events if e not in WEBHOOK_TYPES]
    if unknown or isinstance(events, str):
        raise ValueError(f"unknown webhook event types: {unknown or events!r}")
    return "," + ",".join(sorted(set(events), key=WEBHOOK_TYPES.index)) + ","


def _endpoint(row: Row) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row[0],
        url=row[1],
        secret=row[2],
        events=tuple(e for e in str(row[3]).split(",") if e),
        created_at=row[4],
        updated_at=row[5],
        description=row[6],
        enabled=bool(row[7]),
    )


def _attempt(row: Row, offset: int = 0) -> WebhookAttempt:
    r = row[offset:]
    return WebhookAttempt(
        id=int(r[0]),
        delivery_id=int(r[1]),
        ts=r[2],
        status_code=None if r[3] is None else int(r[3]),
        latency_ms=float(r[4]),
        error=r[5],
        response=r[6],
    )


def _delivery(row: Row, with_last: bool = False) -> WebhookDelivery:
    last = _attempt(row, 12) if with_last and row[12] is not None else None
    return WebhookDelivery(
        id=int(row[0]),
        endpoint_id=row[1],
        conversation_id=row[2],
        seq=int(row[3]),
        type=row[4],
        created_at=row[5],
        state=cast(DeliveryState, row[6]),
        attempts=int(row[7]),
        next_at=float(row[8]),
        body=row[9],
        finished_at=row[10],
        redelivery_of=None if row[11] is None else int(row[11]),
        last=last,
    )


class WebhooksPart(SQLPart):
    # --- endpoints -------------------------------------------------------------------------

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        codec.check_ts(endpoint.created_at)
        await self._insert(
            "add a webhook endpoint",
            "webhook_endpoints",
            _ENDPOINT,
            (
                endpoint.id,
                endpoint.url,
                endpoint.secret,
                _events_text(endpoint.events),
                endpoint.created_at,
                endpoint.updated_at,
                endpoint.description,
                int(endpoint.enabled),
            ),
        )

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None:
        rows = await self._read(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        )
        return _endpoint(rows[0]) if rows else None

    async def list_webhooks(self) -> list[WebhookEndpoint]:
        rows = await self._read(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints ORDER BY created_at, id"
        )
        return [_endpoint(r) for r in rows]

    async def update_webhook(self, endpoint_id: str, **fields: object) -> WebhookEndpoint:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"webhook fields that cannot change: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = dict(fields)
        if "events" in changes:
            changes["events"] = _events_text(cast(Sequence[str], changes["events"]))
        if "enabled" in changes:
            changes["enabled"] = int(bool(changes["enabled"]))
        if "updated_at" in changes:
            codec.check_ts(cast(str, changes["updated_at"]))
        row = await self._update(
            "change a webhook endpoint", "webhook_endpoints", endpoint_id, changes, _ENDPOINT
        )
        return _endpoint(row)

    async def delete_webhook(self, endpoint_id: str) -> bool:
        async def work(tx: Tx) -> int:
            await tx.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,))
            return await tx.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))

        return await self._transaction("delete a webhook endpoint", work) > 0

    # --- the outbox ------------------------------------------------------------------------

    async def due_deliveries(self, now: float) -> bool:
        rows = await self._read(
            "SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ? LIMIT 1",
            (now,),
        )
        return bool(rows)

    async def claim_deliveries(
        self, *, now: float, owner: str, lease_s: float, limit: int
    ) -> list[WebhookDelivery]:
        if limit < 1 or lease_s <= 0:
            raise ValueError("claim at least one delivery, for a lease of more than 0 s")
        sql = (
            "UPDATE webhook_deliveries SET lease_until = ?, lease_owner = ?"
            " WHERE id IN (SELECT d.id FROM webhook_deliveries AS d"
            "   WHERE d.state = 'pending' AND d.next_at <= ? AND d.lease_until <= ?"
            "   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e"
            "     WHERE e.conversation_id = d.conversation_id AND e.endpoint_id = d.endpoint_id"
            "     AND e.state = 'pending' AND e.id < d.id)"
            "   ORDER BY d.next_at, d.id LIMIT ?)"
            " AND state = 'pending' AND lease_until <= ?"
            f" RETURNING {_DELIVERY}"
        )

        async def work(tx: Tx) -> Sequence[Row]:
            return await tx.fetchall(sql, (now + lease_s, owner, now, now, limit, now))

        rows = await self._transaction("claim webhook deliveries", work)
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.next_at, d.id))

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        owner: str,
        attempt: WebhookAttempt,
        body: str,
        state: DeliveryState,
        next_at: float,
    ) -> bool:
        done = await self.finish_deliveries(
            owner, [DeliveryOutcome(delivery_id, attempt, body, state, next_at)]
        )
        return done == [delivery_id]

    async def finish_deliveries(self, owner: str, outcomes: Sequence[DeliveryOutcome]) -> list[int]:
        for outcome in outcomes:
            codec.check_ts(outcome.attempt.ts)
            if outcome.state not in ("pending", "delivered", "failed"):
                raise ValueError(f"unknown delivery state {outcome.state!r}")

        async def work(tx: Tx) -> list[int]:
            done = []
            for o in outcomes:
                finished = None if o.state == "pending" else o.attempt.ts
                changed = await tx.execute(
                    "UPDATE webhook_deliveries SET state = ?, body = ?, attempts = attempts + 1,"
                    " next_at = ?, lease_until = 0, lease_owner = NULL, finished_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'pending'",
                    (o.state, o.body, o.next_at, finished, o.delivery_id, owner),
                )
                if changed != 1:
                    continue
                a = o.attempt
                await tx.execute(
                    "INSERT INTO webhook_attempts"
                    " (delivery_id, ts, status_code, latency_ms, error, response)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (o.delivery_id, a.ts, a.status_code, a.latency_ms, a.error, a.response),
                )
                done.append(o.delivery_id)
            return done

        return await self._transaction("record webhook attempts", work)

    async def redeliver(self, delivery_id: int, *, ts: str, now: float) -> WebhookDelivery:
        codec.check_ts(ts)

        async def work(tx: Tx) -> Row | None:
            return await tx.fetchone(
                "INSERT INTO webhook_deliveries (endpoint_id, conversation_id, seq, type,"
                " created_at, body, next_at, redelivery_of)"
                " SELECT endpoint_id, conversation_id, seq, type, ?, body, ?, id"
                " FROM webhook_deliveries WHERE id = ?"
                f" RETURNING {_DELIVERY}",
                (ts, now, delivery_id),
            )

        row = await self._transaction("redeliver a webhook", work)
        if row is None:
            raise NotFoundError(f"redeliver: no webhook delivery {delivery_id}")
        return _delivery(row)

    async def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, before_id: int | None = None
    ) -> list[WebhookDelivery]:
        columns = ", ".join(f"d.{c.strip()}" for c in _DELIVERY.split(","))
        last = ", ".join(f"a.{c.strip()}" for c in _ATTEMPT.split(","))
        rows = await self._read(
            f"SELECT {columns}, {last} FROM webhook_deliveries AS d"
            " LEFT JOIN webhook_attempts AS a ON a.id ="
            "  (SELECT max(x.id) FROM webhook_attempts AS x WHERE x.delivery_id = d.id)"
            " WHERE d.endpoint_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?",
            (endpoint_id, before_id if before_id is not None else 2**62, limit),
        )
        return [_delivery(r, with_last=True) for r in rows]

    async def webhook_attempts(self, delivery_id: int) -> list[WebhookAttempt]:
        rows = await self._read(
            f"SELECT {_ATTEMPT} FROM webhook_attempts WHERE delivery_id = ? ORDER BY id",
            (delivery_id,),
        )
        return [_attempt(r) for r in rows]

    async def webhook_counts(self) -> dict[str, dict[str, int]]:
        rows = await self._read(
            "SELECT endpoint_id, state, count(*) FROM webhook_deliveries GROUP BY endpoint_id, state"
        )
        counts: dict[str, dict[str, int]] = {}
        for endpoint_id, state, n in rows:
            counts.setdefault(endpoint_id, {})[state] = int(n)
        return counts

    async def prune_deliveries(self, finished_before: str) -> int:
        codec.check_ts(finished_before)
        sql = (
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
            " WHERE finished_at IS NOT NULL AND finished_at < ? AND state <> 'pending'"
            f" ORDER BY finished_at LIMIT {PRUNE_BATCH})"
        )

        async def work(tx: Tx) -> int:
            return await tx.execute(sql, (finished_before,))

        total = 0
        while True:  # in batches: the writer waits for one batch at most, not for the whole log
            deleted = await self._transaction("prune the webhook log", work)
            total += deleted
            if deleted < PRUNE_BATCH:
                return total
