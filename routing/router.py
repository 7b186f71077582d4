"""The router the hub calls: a thin typed adapter over the Lua scripts.

Every method that changes state is exactly one script call (atomic on the Redis server, safe to
call from any number of hub processes at once); ``now`` is always an argument, so the caller —
or a test — owns the clock. Results come back as typed values; refusals become the exceptions
of :mod:`routing.errors`. Events go out on ``events_channel`` (see docs/routing.md).
The calls themselves (keys, arguments, parsing) are built in :mod:`routing._calls`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from routing._calls import (
    Call,
    Calls,
    as_list,
    check_id,
    explanation_from,
    missing_config,
    ms,
    offers_from,
    text,
)
from routing._scripts import Scripts
from routing.batch import Batch
from routing.config import RoutingConfig
from routing.models import (
    AgentState,
    AgentStatus,
    Assignment,
    ConversationRequest,
    Offer,
    QueueEntry,
    RouteResult,
    TickResult,
)

T = TypeVar("T")
POSITIONS_PER_CALL = 500  # ids per read-only positions script: about a millisecond of Redis


def _tidy_agents(data: dict[str, Any]) -> None:
    """A reading script's agents as plain lists and dicts (cjson writes an empty list as {})."""
    data["agents"] = as_list(data.get("agents"))
    for a in data["agents"]:
        a["active"] = sorted(as_list(a.get("active")))
        a["offers"] = as_list(a.get("offers"))
        a["skills"] = a.get("skills") or {}


class Router:
    """Decides which agent gets which conversation; all state lives in Redis under ``prefix``.

    ``prefix`` must carry a Redis Cluster hash tag (``{cs}`` by default) so every key of every
    script hashes to one slot. ``node_id`` names this hub process: agents whose socket it holds
    are bound to it (``set_status``) and go offline if it stops calling ``heartbeat``.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        config: RoutingConfig,
        *,
        node_id: str,
        prefix: str = "{cs}",
        control: aioredis.Redis | None = None,
    ) -> None:
        """``control``, when given, is a client of its own for ``heartbeat`` and ``tick``, so
        that a node's heartbeat never waits behind a burst of other calls on ``redis``."""
        self._calls = Calls(config, node_id, prefix)
        self.redis = redis
        self.config = config
        self.node_id = node_id
        self.prefix = prefix
        self.events_channel = f"{prefix}:events"
        self._scripts = Scripts(redis)
        self._control_scripts = Scripts(control) if control is not None else self._scripts

    def _k(self, *parts: str) -> str:
        return self._calls.k(*parts)

    async def _store_config(self) -> None:
        flat = [x for pair in self._calls.config_fields.items() for x in pair]
        await self.redis.hset(self._calls.config_key, items=flat)

    async def _exec(self, call: Call[T], *, control: bool = False) -> T:
        script = (self._control_scripts if control else self._scripts)[call.script]
        try:
            raw = await script(keys=call.keys, args=call.args)
        except ResponseError as exc:
            if not missing_config(exc):
                raise
            # First call, or Redis lost its data: the script wrote nothing; store and retry.
            await self._store_config()
            raw = await script(keys=call.keys, args=call.args)
        return call.finish(raw)

    def batch(self) -> Batch:
        """Queue several independent calls and send them in one round trip (see Batch)."""
        return Batch(self)

    # Nodes and agents ---------------------------------------------------------------------

    async def heartbeat(self, now: float) -> None:
        """This hub node is alive; call it every few seconds (well within heartbeat_timeout_s)."""
        await self._exec(self._calls.heartbeat(now), control=True)

    async def upsert_agent(
        self, agent_id: str, skills: dict[str, int], capacity: int, now: float
    ) -> list[Offer]:
        """Create an agent (offline) or replace its skills and capacity, keeping status and
        load. If it is online, widened skills or more capacity may produce offers."""
        return await self._exec(self._calls.upsert_agent(agent_id, skills, capacity, now))

    async def set_status(self, agent_id: str, status: AgentStatus, now: float) -> list[Offer]:
        """online/away bind the agent to this node; online offers it waiting work; away and
        offline withdraw its open offers (re-routed); offline also requeues its active chats
        after grace_s unless it comes back (online or away) first."""
        return await self._exec(self._calls.set_status(agent_id, status, now))

    async def drain(self, now: float) -> list[str]:
        """This node is about to stop (a rolling restart): every agent bound to it that is
        online goes away — keeps its chats, gets no new offers, and its open offers are
        withdrawn (``agent_away``) and routed again, to agents of other nodes. Agents bound to
        another node are left alone. Returns the agents set away."""
        return await self._exec(self._calls.drain(now))

    async def set_capacity(self, agent_id: str, capacity: int, now: float) -> list[Offer]:
        """Change how many chats the agent takes at once; lowering it drops nothing held."""
        return await self._exec(self._calls.set_capacity(agent_id, capacity, now))

    # Conversations ------------------------------------------------------------------------

    async def request(self, req: ConversationRequest, now: float) -> RouteResult:
        """Route a conversation: offered to the best eligible agent, or queued."""
        return await self._exec(self._calls.request(req, now))

    async def accept(self, offer_id: str, agent_id: str, now: float) -> Assignment:
        """Accept an offer: the reserved slot becomes an active chat. Raises OfferNotFound,
        OfferExpired ("offer expired 2.1 s ago") or NotYourOffer."""
        return await self._exec(self._calls.accept(offer_id, agent_id, now))

    async def decline(self, offer_id: str, agent_id: str, now: float) -> list[Offer]:
        """Decline an offer: it is withdrawn and routed again; returns the offers made."""
        return await self._exec(self._calls.decline(offer_id, agent_id, now))

    async def release(self, conversation_id: str, now: float) -> list[Offer]:
        """The chat ended: record its handle time and free the agent, who is offered the first
        waiting conversation it is eligible for. Returns the offers made."""
        return await self._exec(self._calls.release(conversation_id, now))

    async def cancel(self, conversation_id: str, now: float) -> list[Offer]:
        """The visitor left while queued or offered: leave the queue, withdraw any offer."""
        return await self._exec(self._calls.cancel(conversation_id, now))

    async def transfer(
        self,
        conversation_id: str,
        now: float,
        *,
        to_agent: str | None = None,
        to_topic: str | None = None,
    ) -> RouteResult:
        """Release the current holder and either offer the conversation to ``to_agent``
        (online with room, else AgentUnavailable; skills not required) or queue it again —
        under ``to_topic`` if given — keeping its arrival time. The previous holder is avoided."""
        return await self._exec(self._calls.transfer(conversation_id, now, to_agent, to_topic))

    async def restore_assignment(self, req: ConversationRequest, agent_id: str, now: float) -> None:
        """After Redis lost its data: put an active chat back on its agent (load + 1, even
        beyond capacity) without routing."""
        await self._exec(self._calls.restore_assignment(req, agent_id, now))

    async def tick(self, now: float) -> TickResult:
        """Expire due offers, declare silent nodes dead, requeue orphaned chats after grace,
        apply relaxation steps that came due. Call about every 0.5–1 s from every node: each
        item is processed exactly once, by whichever node gets there first."""
        return await self._exec(self._calls.tick(now), control=True)

    async def reconfigure(self, config: RoutingConfig, now: float) -> list[Offer]:
        """Switch to an edited configuration (topics, languages, levels, relaxation steps).

        Rebuilds the calls for it — the stored configuration is content-addressed, so its hash
        has a new key, written here — and runs ``reconfigure.lua``: every waiting conversation
        gets its relaxation step and next widening recomputed and is matched again under the
        new rules. Conversations keep their topic, language, priority and arrival time; one
        whose topic was removed waits under the fallback levels (topic 1, language 1).
        Every hub process calls this when it learns of the edit; until then it routes with the
        configuration it had, so for about one tick two configurations may be in force."""
        calls = Calls(config, self.node_id, self.prefix)
        call = calls._call(
            "reconfigure", now, [calls.k("waiting"), calls.k("due")], [], offers_from
        )
        self._calls = calls
        self.config = config
        await self._store_config()
        return await self._exec(call)

    # Reading ------------------------------------------------------------------------------

    async def position(self, conversation_id: str, now: float) -> tuple[int | None, int | None]:
        """(position, eta_s) of a waiting conversation; (None, None) if it is not waiting."""
        return (await self.positions([conversation_id], now))[conversation_id]

    async def positions(
        self, conversation_ids: Sequence[str], now: float
    ) -> dict[str, tuple[int | None, int | None]]:
        """(position, eta_s) of each conversation — (None, None) for one not waiting — computed
        when asked (a ZRANK each), by read-only scripts of at most POSITIONS_PER_CALL ids sent
        in one round trip, so a hub can follow thousands of waiting visitors every second
        without holding Redis for long."""
        ids = list(dict.fromkeys(conversation_ids))
        for cid in ids:
            check_id(cid, "conversation_id")
        out: dict[str, tuple[int | None, int | None]] = {}
        chunks = [ids[i : i + POSITIONS_PER_CALL] for i in range(0, len(ids), POSITIONS_PER_CALL)]
        if not chunks:
            return out
        batch = Batch(self)
        for chunk in chunks:
            batch._add(self._calls.positions(now, chunk))
        for chunk, data in zip(chunks, await batch.execute(), strict=True):
            if isinstance(data, BaseException):
                raise data
            for cid, item in zip(chunk, as_list(data.get("positions")), strict=True):
                out[cid] = (item[0], item[1]) if isinstance(item, list) else (None, None)
        return out

    async def conversation_state(self, conversation_id: str) -> str | None:
        """The router's state of it ("waiting", "offered", "active"), or None if it knows none."""
        state = await self.redis.hget(self._k("conv", conversation_id), "state")
        return None if state is None else text(state)

    async def conversation_agent(self, conversation_id: str) -> str | None:
        """The agent holding the conversation (accepted), or None."""
        state, agent = await self.redis.hmget(self._k("conv", conversation_id), ["state", "agent"])
        if state is None or text(state) != "active" or not agent:
            return None
        return text(agent)

    async def explain(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's decision records, oldest first (the last 20 are kept)."""
        rows = await self.redis.lrange(self._k("explain", conversation_id), 0, -1)
        return [explanation_from(r) for r in rows]

    async def snapshot(
        self, now: float = 0.0, *, agent_id: str | None = None, agents_only: bool = False
    ) -> dict[str, Any]:
        """One consistent picture of the routing state (read-only script), as plain data."""
        data: dict[str, Any] = await self._exec(self._calls.snapshot(now, agent_id, agents_only))
        _tidy_agents(data)
        if not agents_only:
            data["conversations"] = as_list(data.get("conversations"))
            for c in data["conversations"]:
                c["avoid"] = sorted(as_list(c.get("avoid")))
                c["cooldown"] = c.get("cooldown") or {}
                c["meta"] = json.loads(c["meta"]) if c.get("meta") else {}
            data["waiting"] = as_list(data.get("waiting"))
            data["free"] = sorted(as_list(data.get("free")))
            data["queues"] = {t: as_list(v) for t, v in (data.get("queues") or {}).items()}
            data["handle_times"] = {
                t: [int(x) for x in as_list(v)] for t, v in (data.get("handle_times") or {}).items()
            }
            for name in ("nodes", "orphans", "stats"):
                flat = as_list(data.get(name))
                data[name] = {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}
        return data

    async def live_floor(
        self, now: float, *, limit: int = 200, sla_wait_s: float = 60.0
    ) -> dict[str, Any]:
        """The supervisor's live floor without walking the queue: every agent (as in
        ``snapshot``) with the conversations it holds or is offered, the ``limit``
        longest-waiting queued conversations, and per topic ``counts`` — queued, oldest
        arrival (ms), how many have waited past ``sla_wait_s`` — plus the ``active`` total."""
        data: dict[str, Any] = await self._exec(self._calls.live_floor(now, limit, sla_wait_s))
        _tidy_agents(data)
        data["conversations"] = as_list(data.get("conversations"))
        for c in data["conversations"]:
            c["meta"] = json.loads(c["meta"]) if c.get("meta") else {}
        data["counts"] = data.get("counts") or {}
        return data

    @staticmethod
    def _agent_state(a: dict[str, Any]) -> AgentState:
        return AgentState(
            agent_id=a["agent_id"],
            status=a["status"],
            capacity=a["capacity"],
            load=a["load"],
            active=list(a["active"]),
            reserved=sorted(o["conversation_id"] for o in a["offers"]),
            node=a.get("node"),
            skills=dict(a["skills"]),
            idle_since=a["idle_since"] / 1000,
        )

    async def agents(self) -> list[AgentState]:
        snap = await self.snapshot(agents_only=True)
        return [self._agent_state(a) for a in snap["agents"]]

    async def agent(self, agent_id: str) -> AgentState | None:
        snap = await self.snapshot(agent_id=agent_id, agents_only=True)
        return self._agent_state(snap["agents"][0]) if snap["agents"] else None

    async def pending_offers(self, agent_id: str) -> list[Offer]:
        """The agent's open offers (for a console that reconnects), oldest deadline first."""
        snap = await self.snapshot(agent_id=agent_id)
        convs = {c["conversation_id"]: c for c in snap["conversations"]}
        out = []
        for a in snap["agents"]:
            for o in a["offers"]:
                c = convs.get(o["conversation_id"])
                if c is None:
                    continue
                out.append(
                    Offer(
                        offer_id=o["offer_id"],
                        conversation_id=c["conversation_id"],
                        agent_id=agent_id,
                        deadline=o["deadline"] / 1000,
                        topic=c["topic"],
                        language=c["language"],
                        arrived_at=c["arrived_at"] / 1000,
                        meta=c["meta"],
                    )
                )
        return sorted(out, key=lambda o: (o.deadline, o.offer_id))

    async def queue(self, now: float) -> list[QueueEntry]:
        """Every waiting conversation in serving order (priority, then arrival)."""
        snap = await self.snapshot(now)
        convs = {c["conversation_id"]: c for c in snap["conversations"]}
        out = []
        for cid in snap["waiting"]:
            c = convs.get(cid)
            if c is None:
                continue
            out.append(
                QueueEntry(
                    conversation_id=cid,
                    topic=c["topic"],
                    language=c["language"],
                    priority=c["priority"],
                    arrived_at=c["arrived_at"] / 1000,
                    position=c.get("position") or 0,
                    eta_s=c.get("eta_s"),
                    state=c["state"],
                )
            )
        return out

    async def stats(self, now: float) -> dict[str, Any]:
        """Per topic: waiting, longest_wait_s, agents_online, capacity, load, handle_time_s;
        totals; counters (offered, accepted, declined, expired, abandoned, …); live nodes.
        Read from maintained counters and set sizes: its cost does not grow with the floor
        or the queue."""
        data: dict[str, Any] = await self._exec(self._calls.stats(now))
        now_ms = ms(now)
        raw_topics = data.get("topics") or {}
        topics: dict[str, Any] = {}
        for name in self.config.topics:
            t = raw_topics.get(name) or {}
            ht = [int(x) for x in as_list(t.get("handle_times"))]
            oldest = t.get("oldest")
            topics[name] = {
                "waiting": int(t.get("waiting", 0)),
                "longest_wait_s": max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0,
                "agents_online": int(t.get("agents_online", 0)),
                "capacity": int(t.get("capacity", 0)),
                "load": int(t.get("load", 0)),
                "handle_time_s": (sum(ht) / len(ht) / 1000) if ht else None,
            }
        totals = {
            "waiting": int(data.get("waiting", 0)),
            "offered": int(data.get("offered", 0)),
            "active": int(data.get("active", 0)),
            "longest_wait_s": max((t["longest_wait_s"] for t in topics.values()), default=0.0),
            "agents_online": int(data.get("agents_online", 0)),
            "agents_away": int(data.get("agents_away", 0)),
            "capacity": int(data.get("capacity", 0)),
            "load": int(data.get("load", 0)),
        }
        flat = as_list(data.get("stats"))
        nodes = as_list(data.get("nodes"))
        return {
            "topics": topics,
            "totals": totals,
            "counters": {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)},
            "nodes": {
                nodes[i]: round((now_ms - float(nodes[i + 1])) / 1000, 3)
                for i in range(0, len(nodes), 2)
            },
        }


__all__ = ["Router"]
