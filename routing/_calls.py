"""Script calls as data (sans I/O): which script, which keys and arguments, and how to turn
the script's answer into typed values or a routing exception.

The :class:`~routing.Router` executes one call per method; a :class:`~routing.batch.Batch`
pipelines several. Either way the bytes sent and the parsing are the same, built here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from redis.exceptions import ResponseError

from routing.config import MAX_LEVEL, PRIORITY_RANGE, RoutingConfig
from routing.errors import (
    AgentUnavailable,
    ConfigError,
    NotYourOffer,
    OfferExpired,
    OfferNotFound,
    RoutingError,
    UnknownAgent,
    UnknownConversation,
)
from routing.models import Assignment, ConversationRequest, Offer, RouteResult, TickResult

T = TypeVar("T")

_HASH_TAG = re.compile(r"^[^{]*\{[^{}]+\}")
_ID = re.compile(r"^[^\s]{1,200}$")
_ERRORS: dict[str, type[RoutingError]] = {
    "unknown_agent": UnknownAgent,
    "unknown_conversation": UnknownConversation,
    "offer_not_found": OfferNotFound,
    "not_your_offer": NotYourOffer,
    "agent_unavailable": AgentUnavailable,
}


def ms(now: float) -> int:
    """``now`` in seconds → the integer milliseconds the scripts take."""
    if (
        isinstance(now, bool)
        or not isinstance(now, int | float)
        or not math.isfinite(now)
        or now < 0
    ):
        raise RoutingError(f"now must be a finite number of seconds >= 0, got {now!r}")
    return round(now * 1000)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def as_list(value: Any) -> list[Any]:
    """cjson encodes an empty Lua table as {}: every list field may come back that way."""
    return value if isinstance(value, list) else []


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise RoutingError(f"{what} must be a non-empty string without spaces, got {value!r}")
    return value


def check_prefix(prefix: str) -> str:
    if not _HASH_TAG.match(prefix):
        raise ConfigError(f"prefix {prefix!r} must contain a hash tag such as '{{cs}}'")
    return prefix


def offer_from(d: dict[str, Any]) -> Offer:
    meta = d.get("meta") or {}
    if isinstance(meta, str):
        meta = json.loads(meta)
    return Offer(
        offer_id=d["offer_id"],
        conversation_id=d["conversation_id"],
        agent_id=d["agent_id"],
        deadline=d["deadline"] / 1000,
        topic=d["topic"],
        language=d["language"],
        arrived_at=d["arrived_at"] / 1000,
        meta=meta if isinstance(meta, dict) else {},
    )


def offers_from(data: dict[str, Any]) -> list[Offer]:
    return [offer_from(o) for o in as_list(data.get("offers"))]


def route_result_from(data: dict[str, Any]) -> RouteResult:
    offer = data.get("offer")
    return RouteResult(
        conversation_id=data["conversation_id"],
        status=data["status"],
        position=data.get("position"),
        eta_s=data.get("eta_s"),
        offer=offer_from(offer) if isinstance(offer, dict) and offer else None,
        agents_online=data.get("agents_online", 0),
    )


def explanation_from(raw: Any) -> dict[str, Any]:
    """A stored decision record → the documented form (docs/routing.md, "Explanations")."""
    record: dict[str, Any] = json.loads(text(raw)) if raw else {}
    if "c" in record:  # compact candidates: [agent id, load, capacity, idle since ms, excluded]
        now_ms = round(record["ts"] * 1000)
        record["candidates"] = [
            {
                "agent_id": agent,
                "load": load,
                "capacity": capacity,
                "ratio": round(load / capacity, 3) if capacity > 0 else 1,
                "idle_s": round((now_ms - idle) / 1000, 1),
                "eligible": not excluded,
                "excluded": excluded or None,
            }
            for agent, load, capacity, idle, excluded in as_list(record.pop("c"))
        ]
    if record.get("required") == []:
        record["required"] = {}
    return record


def _assignment_from(data: dict[str, Any]) -> Assignment:
    a = data["assignment"]
    return Assignment(
        conversation_id=a["conversation_id"],
        agent_id=a["agent_id"],
        offer_id=a["offer_id"],
        explanation=explanation_from(data.get("decision")),
    )


def _tick_from(data: dict[str, Any]) -> TickResult:
    return TickResult(
        expired=[offer_from(o) for o in as_list(data.get("expired"))],
        offers=offers_from(data),
        requeued=[str(x) for x in as_list(data.get("requeued"))],
        dead_nodes=[str(x) for x in as_list(data.get("dead_nodes"))],
    )


def _drained_from(data: dict[str, Any]) -> list[str]:
    return [str(x) for x in as_list(data.get("drained"))]


def _nothing(data: dict[str, Any]) -> None:
    return None


def missing_config(raw: Any) -> bool:
    """Did the script stop because Redis lost the stored configuration (nothing written)?"""
    return isinstance(raw, ResponseError) and "NOCONFIG" in str(raw)


def decode(raw: Any) -> dict[str, Any]:
    """A script's answer → dict; a coded refusal → the matching RoutingError."""
    extra = None
    if isinstance(raw, list):  # [answer JSON, decision record JSON]
        raw, extra = raw
    data: dict[str, Any] = json.loads(text(raw))
    if extra is not None:
        data["decision"] = extra
    code = data.get("err")
    if code:
        if code == "offer_expired":
            ago = float(data.get("ago_s", 0.0))
            raise OfferExpired(f"offer expired {ago:.1f} s ago", ago)
        raise _ERRORS.get(code, RoutingError)(data.get("msg", code))
    return data


@dataclass(frozen=True)
class Call(Generic[T]):
    """One script invocation, ready to send; ``finish`` parses the raw answer."""

    script: str
    keys: list[str]
    args: list[Any]
    parse: Callable[[dict[str, Any]], T]

    def finish(self, raw: Any) -> T:
        return self.parse(decode(raw))


class Calls:
    """Builds every state-changing call for one configuration, node and key prefix."""

    def __init__(self, config: RoutingConfig, node_id: str, prefix: str) -> None:
        self.config = config
        self.node_id = check_id(node_id, "node_id")
        self.prefix = check_prefix(prefix)
        self.config_fields = config.script_fields()
        text = json.dumps(self.config_fields, sort_keys=True)
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        self.config_key = self.k("config", digest)
        self._token = secrets.token_hex(6)
        self._seq = itertools.count(1)

    def k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _call(
        self,
        script: str,
        now: float,
        keys: list[str],
        args: list[Any],
        parse: Callable[[dict[str, Any]], T],
    ) -> Call[T]:
        token = f"{self._token}.{next(self._seq):x}"
        return Call(
            script,
            [self.k("agents"), self.config_key, *keys],
            [ms(now), token, self.node_id, *args],
            parse,
        )

    @staticmethod
    def _check_capacity(capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= 1000:
            raise RoutingError(f"capacity must be an integer 0..1000, got {capacity!r}")

    def request_args(self, req: ConversationRequest) -> list[Any]:
        check_id(req.conversation_id, "conversation_id")
        topic = self.config.topic(req.topic)
        if req.language not in self.config.languages:
            known = ", ".join(self.config.languages)
            raise ConfigError(f"unknown language {req.language!r} (configured: {known})")
        priority = topic.priority if req.priority is None else req.priority
        lo, hi = PRIORITY_RANGE
        if isinstance(priority, bool) or not isinstance(priority, int) or not lo <= priority <= hi:
            raise RoutingError(f"priority must be an integer {lo}..{hi}, got {priority!r}")
        avoid = sorted({check_id(a, "avoid entry") for a in req.avoid})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in req.meta.items()):
            raise RoutingError("meta must map strings to strings")
        return [
            req.conversation_id,
            req.topic,
            req.language,
            priority,
            req.preferred_agent or "",
            json.dumps(avoid) if avoid else "[]",
            json.dumps(req.meta) if req.meta else "{}",
        ]

    # One builder per operation ------------------------------------------------------------

    def heartbeat(self, now: float) -> Call[None]:
        return self._call("heartbeat", now, [self.k("nodes")], [], _nothing)

    def upsert_agent(
        self, agent_id: str, skills: dict[str, int], capacity: int, now: float
    ) -> Call[list[Offer]]:
        check_id(agent_id, "agent_id")
        for skill, level in skills.items():
            check_id(skill, "skill name")
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
                raise RoutingError(f"skill {skill!r}: level must be 1..{MAX_LEVEL}, got {level!r}")
        self._check_capacity(capacity)
        return self._call(
            "upsert_agent",
            now,
            [self.k("agent", agent_id), self.k("free")],
            [agent_id, json.dumps(skills), capacity],
            offers_from,
        )

    def set_status(
        self, agent_id: str, status: Literal["online", "away", "offline"], now: float
    ) -> Call[list[Offer]]:
        if status not in ("online", "away", "offline"):
            raise RoutingError(f"status must be online, away or offline, got {status!r}")
        return self._call(
            "set_status",
            now,
            [self.k("agent", agent_id), self.k("free"), self.k("orphans")],
            [agent_id, status],
            offers_from,
        )

    def drain(self, now: float) -> Call[list[str]]:
        return self._call(
            "drain",
            now,
            [self.k("node", self.node_id, "agents"), self.k("free")],
            [],
            _drained_from,
        )

    def set_capacity(self, agent_id: str, capacity: int, now: float) -> Call[list[Offer]]:
        self._check_capacity(capacity)
        return self._call(
            "set_capacity",
            now,
            [self.k("agent", agent_id), self.k("free")],
            [agent_id, capacity],
            offers_from,
        )

    def request(self, req: ConversationRequest, now: float) -> Call[RouteResult]:
        args = self.request_args(req)
        return self._call(
            "request",
            now,
            [
                self.k("conv", req.conversation_id),
                self.k("q", req.topic),
                self.k("waiting"),
                self.k("skill", req.topic),
            ],
            args,
            route_result_from,
        )

    def accept(self, offer_id: str, agent_id: str, now: float) -> Call[Assignment]:
        return self._call(
            "accept",
            now,
            [self.k("offer", offer_id), self.k("offers_due"), self.k("agent", agent_id)],
            [offer_id, agent_id],
            _assignment_from,
        )

    def decline(self, offer_id: str, agent_id: str, now: float) -> Call[list[Offer]]:
        return self._call(
            "decline",
            now,
            [self.k("offer", offer_id), self.k("offers_due"), self.k("agent", agent_id)],
            [offer_id, agent_id],
            offers_from,
        )

    def release(self, conversation_id: str, now: float) -> Call[list[Offer]]:
        return self._call(
            "release", now, [self.k("conv", conversation_id)], [conversation_id], offers_from
        )

    def cancel(self, conversation_id: str, now: float) -> Call[list[Offer]]:
        return self._call(
            "cancel", now, [self.k("conv", conversation_id)], [conversation_id], offers_from
        )

    def transfer(
        self, conversation_id: str, now: float, to_agent: str | None, to_topic: str | None
    ) -> Call[RouteResult]:
        if to_topic is not None:
            self.config.topic(to_topic)
        return self._call(
            "transfer",
            now,
            [self.k("conv", conversation_id)],
            [conversation_id, to_agent or "", to_topic or ""],
            route_result_from,
        )

    def restore_assignment(self, req: ConversationRequest, agent_id: str, now: float) -> Call[None]:
        args = self.request_args(req)
        return self._call(
            "restore",
            now,
            [self.k("conv", req.conversation_id), self.k("agent", agent_id)],
            [*args, agent_id],
            _nothing,
        )

    def tick(self, now: float) -> Call[TickResult]:
        return self._call(
            "tick",
            now,
            [self.k("offers_due"), self.k("nodes"), self.k("orphans"), self.k("due")],
            [],
            _tick_from,
        )

    def snapshot(self, now: float, agent_id: str | None, agents_only: bool) -> Call[Any]:
        return self._read(now, agent_id or "", "agents" if agents_only else "all", [])

    def stats(self, now: float) -> Call[Any]:
        return self._read(now, "", "stats", [])

    def live_floor(self, now: float, limit: int, sla_wait_s: float) -> Call[Any]:
        return self._read(now, "", "floor", [str(limit), str(ms(sla_wait_s))])

    def positions(self, now: float, conversation_ids: list[str]) -> Call[Any]:
        return self._read(now, "", "positions", conversation_ids)

    def _read(self, now: float, agent_id: str, mode: str, extra: list[str]) -> Call[Any]:
        return Call(
            "snapshot",
            [self.k("agents"), self.config_key],
            [ms(now), "", self.node_id, agent_id, mode, *extra],
            lambda data: data,
        )


__all__ = ["Call", "Calls", "as_list", "decode", "explanation_from", "missing_config", "ms", "text"]
