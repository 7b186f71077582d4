"""Random sequences of everything that can happen to the router, invariants checked after
every step (see invariants.py). Time is a fake clock in whole milliseconds that each step
advances; the async API runs on a private event loop owned by the state machine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, ClassVar, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from routing import ConversationRequest, OfferExpired, Router, RoutingConfig
from routing.config import parse_config
from tests.routing.index_check import index_problems
from tests.routing.invariants import Checker
from tests.support.redis_server import RedisServer

T = TypeVar("T")

CONFIG: RoutingConfig = parse_config(
    {
        "offer_timeout_s": 20,
        "preferred_window_s": 10,
        "heartbeat_timeout_s": 15,
        "grace_s": 20,
        "reoffer_cooldown_s": 15,
        "handle_time_default_s": 120,
        "languages": ["en", "es"],
        "topics": {
            "billing": {
                "topic_level": 2,
                "language_level": 2,
                "relax": [
                    {"after_s": 30, "language_level": 1},
                    {"after_s": 60, "language_level": 0},
                    {"after_s": 90, "topic_level": 0},
                ],
            },
            "tech": {
                "topic_level": 3,
                "language_level": 1,
                "relax": [
                    {"after_s": 40, "topic_level": 1},
                ],
            },
            "general": {"topic_level": 1, "language_level": 1, "relax": []},
        },
    }
)
AGENTS = ["a1", "a2", "a3", "a4", "a5"]
NODES = ["n1", "n2"]
levels = st.integers(min_value=1, max_value=5)
skills_st = st.dictionaries(
    st.sampled_from(["billing", "tech", "general", "en", "es"]), levels, max_size=5
)
# Mostly short steps (offers, windows and cooldowns overlap), sometimes long ones (timeouts,
# relaxation, dead nodes).
advance = st.one_of(
    st.just(0),
    st.integers(min_value=0, max_value=4_000),
    st.integers(min_value=0, max_value=30_000),
)


class RoutingMachine(RuleBasedStateMachine):
    url: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = aioredis.Redis.from_url(self.url)
        self.routers = {n: Router(self.redis, CONFIG, node_id=n) for n in NODES}
        self.alive = dict.fromkeys(NODES, True)
        self.home: dict[str, str] = {}  # agent -> node holding its socket
        self.now_ms = 1_000_000_000
        self.count = 0
        self.checker = Checker(CONFIG)
        self.snap: dict[str, Any] = {}

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return self.loop.run_until_complete(wait())

    def call(self, awaitable: Awaitable[T]) -> T:
        """One router call, then every invariant, checked on a snapshot taken right after it."""
        try:
            return self.run(awaitable)
        finally:  # a refused call (OfferExpired …) may still have changed state
            self.snap = self.run(self.any_router().snapshot(self.now))
            self.checker.check(self.snap, self.now_ms)
            problems = self.run(index_problems(self.redis, CONFIG, self.now_ms))
            assert not problems, "\n".join(problems)

    @property
    def now(self) -> float:
        return self.now_ms / 1000

    def step(self, ms: int) -> None:
        """Advance the clock; live nodes heartbeat."""
        self.now_ms += ms
        for n in NODES:
            if self.alive[n]:
                self.run(self.routers[n].heartbeat(self.now))

    def any_router(self) -> Router:
        return self.routers[next((n for n in NODES if self.alive[n]), NODES[0])]

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    @initialize(
        team=st.lists(
            st.tuples(skills_st, st.integers(min_value=1, max_value=3)), min_size=2, max_size=4
        )
    )
    def start(self, team: list[tuple[dict[str, int], int]]) -> None:
        self.run(self.redis.flushall())
        self.step(0)
        for i, (skills, capacity) in enumerate(team):
            agent, node = AGENTS[i], NODES[i % len(NODES)]
            base = {"billing": 2, "general": 1, "en": 2}  # overlapping skills: real choices
            self.call(
                self.routers[node].upsert_agent(agent, {**base, **skills}, capacity, self.now)
            )
            self.call(self.routers[node].set_status(agent, "online", self.now))
            self.home[agent] = node
        self.snap = self.run(self.any_router().snapshot(self.now))

    # Agents ---------------------------------------------------------------------------------

    @rule(
        agent=st.sampled_from(AGENTS),
        node=st.sampled_from(NODES),
        skills=skills_st,
        capacity=st.integers(min_value=0, max_value=3),
        ms=advance,
    )
    def agent_joins(
        self, agent: str, node: str, skills: dict[str, int], capacity: int, ms: int
    ) -> None:
        self.step(ms)
        if not self.alive[node]:
            node = next((n for n in NODES if self.alive[n]), node)
        r = self.routers[node]
        self.call(r.upsert_agent(agent, skills, capacity, self.now))
        self.call(r.set_status(agent, "online", self.now))
        self.home[agent] = node

    @rule(
        agent=st.sampled_from(AGENTS),
        status=st.sampled_from(["online", "online", "away", "offline"]),
        ms=advance,
    )
    def agent_status(self, agent: str, status: str, ms: int) -> None:
        self.step(ms)
        node = self.home.get(agent)
        if node is None or not self.alive[node]:
            self.call(self.any_router().tick(self.now))
            return
        self.call(self.routers[node].set_status(agent, status, self.now))  # type: ignore[arg-type]

    @rule(agent=st.sampled_from(AGENTS), capacity=st.integers(min_value=0, max_value=4), ms=advance)
    def agent_capacity(self, agent: str, capacity: int, ms: int) -> None:
        self.step(ms)
        if agent not in self.home:
            self.call(self.any_router().tick(self.now))
            return
        self.call(self.any_router().set_capacity(agent, capacity, self.now))

    @rule(agent=st.sampled_from(AGENTS), skills=skills_st, ms=advance)
    def agent_skills(self, agent: str, skills: dict[str, int], ms: int) -> None:
        self.step(ms)
        a = next((x for x in self.snap["agents"] if x["agent_id"] == agent), None)
        capacity = a["capacity"] if a else 2
        self.call(self.any_router().upsert_agent(agent, skills, capacity, self.now))

    # Conversations --------------------------------------------------------------------------

    @rule(
        topic=st.sampled_from(["billing", "tech", "general"]),
        language=st.sampled_from(["en", "es"]),
        priority=st.integers(min_value=0, max_value=2),
        preferred=st.one_of(st.none(), st.none(), st.sampled_from(AGENTS)),
        avoid=st.lists(st.sampled_from(AGENTS), max_size=1),
        ms=advance,
    )
    def arrive(
        self,
        topic: str,
        language: str,
        priority: int,
        preferred: str | None,
        avoid: list[str],
        ms: int,
    ) -> None:
        self.step(ms)
        self.count += 1
        req = ConversationRequest(
            f"c{self.count}", topic, language, priority, preferred, tuple(avoid)
        )
        result = self.call(self.any_router().request(req, self.now))
        assert result.status in ("queued", "offered")
        if result.status == "queued":
            assert result.position is not None and result.position >= 1

    def _offers(self) -> list[tuple[str, str]]:
        """(offer id, agent) in a replayable order (offer ids themselves are random)."""
        found = sorted(
            (a["agent_id"], o["conversation_id"], o["offer_id"])
            for a in self.snap["agents"]
            for o in a["offers"]
        )
        return [(offer_id, agent) for agent, _, offer_id in found]

    @precondition(lambda self: any(a["offers"] for a in self.snap["agents"]))
    @rule(data=st.data(), ms=advance)
    def accept(self, data: st.DataObject, ms: int) -> None:
        offers = self._offers()
        offer_id, agent = offers[data.draw(st.integers(0, len(offers) - 1))]
        deadline = next(
            o["deadline"]
            for a in self.snap["agents"]
            for o in a["offers"]
            if o["offer_id"] == offer_id
        )
        self.step(ms)
        if self.now_ms >= deadline:
            with pytest.raises(OfferExpired):
                self.call(self.any_router().accept(offer_id, agent, self.now))
        else:
            assignment = self.call(self.any_router().accept(offer_id, agent, self.now))
            assert assignment.agent_id == agent

    @precondition(lambda self: any(a["offers"] for a in self.snap["agents"]))
    @rule(data=st.data(), ms=advance)
    def decline(self, data: st.DataObject, ms: int) -> None:
        offers = self._offers()
        offer_id, agent = offers[data.draw(st.integers(0, len(offers) - 1))]
        self.step(ms)
        self.call(self.any_router().decline(offer_id, agent, self.now))

    @precondition(lambda self: any(a["active"] for a in self.snap["agents"]))
    @rule(data=st.data(), ms=advance)
    def release(self, data: st.DataObject, ms: int) -> None:
        active = sorted(c for a in self.snap["agents"] for c in a["active"])
        cid = data.draw(st.sampled_from(active))
        self.step(ms)
        self.call(self.any_router().release(cid, self.now))

    @precondition(lambda self: any(a["active"] for a in self.snap["agents"]))
    @rule(data=st.data(), topic=st.sampled_from([None, "billing", "tech", "general"]), ms=advance)
    def transfer_to_queue(self, data: st.DataObject, topic: str | None, ms: int) -> None:
        active = sorted(c for a in self.snap["agents"] for c in a["active"])
        cid = data.draw(st.sampled_from(active))
        self.step(ms)
        result = self.call(self.any_router().transfer(cid, self.now, to_topic=topic))
        assert result.status in ("queued", "offered")

    @precondition(lambda self: any(c["state"] != "active" for c in self.snap["conversations"]))
    @rule(data=st.data(), ms=advance)
    def cancel(self, data: st.DataObject, ms: int) -> None:
        ids = sorted(
            c["conversation_id"] for c in self.snap["conversations"] if c["state"] != "active"
        )
        cid = data.draw(st.sampled_from(ids))
        self.step(ms)
        self.call(self.any_router().cancel(cid, self.now))

    # Time and processes ---------------------------------------------------------------------

    @rule(ms=st.one_of(advance, st.integers(min_value=15_000, max_value=40_000)))
    def tick(self, ms: int) -> None:
        self.step(ms)
        result = self.call(self.any_router().tick(self.now))
        for offer in result.expired:
            assert offer.deadline * 1000 <= self.now_ms

    @precondition(lambda self: sum(self.alive.values()) > 1)
    @rule(node=st.sampled_from(NODES))
    def node_dies(self, node: str) -> None:
        self.alive[node] = False
        self.step(0)
        self.call(self.any_router().tick(self.now))

    @precondition(lambda self: not all(self.alive.values()))
    @rule(ms=advance)
    def node_restarts(self, ms: int) -> None:
        node = next(n for n in NODES if not self.alive[n])
        self.alive[node] = True
        self.step(ms)
        self.call(self.routers[node].tick(self.now))

    # Invariants -----------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        # Checked after every call (self.call); here only that nothing changed since.
        assert self.run(self.any_router().snapshot(self.now)) == self.snap


@pytest.mark.timeout(240)
def test_routing_state_machine(redis_server: RedisServer) -> None:
    RoutingMachine.url = redis_server.url
    run_state_machine_as_test(
        RoutingMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
