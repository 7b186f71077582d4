"""The Hypothesis state machine behind test_stateful.py (a small team) and
test_stateful_floor.py (a large floor): random sequences of everything that can happen to the
router, the oracle (invariants.py) consulted after every call.

Time is a fake clock in whole milliseconds that each step advances; the async API runs on a
private event loop owned by the machine. A subclass says what the world looks like — the
configuration, the agent ids and nodes, and the strategies for skills, capacities, teams,
arrivals and clock steps — and the rules draw from its strategies (``own``), so one set of
rules serves every size.

After every call (or batch of calls) ``verify`` takes a snapshot and checks, besides the
invariants of ``Checker``: the reading API (``position``, ``queue``, ``explain``) against the
snapshot, and every ``RouteResult`` (``agents_online``, status, position).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from routing import (
    AgentUnavailable,
    ConversationRequest,
    OfferExpired,
    Router,
    RouteResult,
    RoutingConfig,
    UnknownAgent,
)
from tests.routing.index_check import index_problems
from tests.routing.invariants import (
    Checker,
    api_problems,
    offers_of,
    qualified,
    route_problems,
)

T = TypeVar("T")

# (topic, language, priority or None for the topic's, preferred agent, agents to avoid); a
# preferred agent given as a number k is the k-th (mod their count) online agent qualified for
# it, a negative one the same among those that are full: so that the preferred-agent window is
# often in force, and holds the conversation back while others could take it
Arrival = tuple[str, str, int | None, str | int | None, list[str]]
# (skills, capacity, status) of an agent of the starting team
Member = tuple[dict[str, int], int, str]


def unchanged(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot less what the clock changes by itself (the nodes' heartbeats)."""
    return {k: v for k, v in snap.items() if k != "nodes"}


def own(name: str) -> st.SearchStrategy[Any]:
    """The running machine's strategy ``name`` (a class attribute of the subclass)."""
    return st.runner().flatmap(lambda machine: getattr(machine, name))


class RoutingMachine(RuleBasedStateMachine):
    url: ClassVar[str] = ""

    # What a subclass provides.
    config: ClassVar[RoutingConfig]
    agent_ids: ClassVar[list[str]]
    nodes: ClassVar[list[str]]
    base_skills: ClassVar[dict[str, int]] = {}  # given to every agent of the starting team
    team: ClassVar[st.SearchStrategy[list[Member]]]
    skills: ClassVar[st.SearchStrategy[dict[str, int]]]
    capacity: ClassVar[st.SearchStrategy[int]]
    arrival: ClassVar[st.SearchStrategy[Arrival]]
    arrivals: ClassVar[st.SearchStrategy[list[Arrival]]]  # one batch of requests
    advance: ClassVar[st.SearchStrategy[int]]  # ms before an ordinary call
    long_advance: ClassVar[st.SearchStrategy[int]]  # ms before a tick
    several: ClassVar[st.SearchStrategy[int]] = st.just(1)  # accepts, declines, releases a step
    # Derived from the above by ``configure``.
    agent: ClassVar[st.SearchStrategy[str]]
    node: ClassVar[st.SearchStrategy[str]]
    topic: ClassVar[st.SearchStrategy[str]]

    @classmethod
    def configure(cls) -> None:
        cls.agent = st.sampled_from(cls.agent_ids)
        cls.node = st.sampled_from(cls.nodes)
        cls.topic = st.sampled_from(sorted(cls.config.topics))

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = aioredis.Redis.from_url(self.url)
        self.routers = {n: Router(self.redis, self.config, node_id=n) for n in self.nodes}
        self.alive = dict.fromkeys(self.nodes, True)
        self.home: dict[str, str] = {}  # agent -> node holding its socket
        self.now_ms = 1_000_000_000
        self.count = 0
        self.checker = Checker(self.config)
        self.snap: dict[str, Any] = {}

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return self.loop.run_until_complete(wait())

    def call(
        self, awaitable: Awaitable[T], *, named: Callable[[T], Sequence[str]] | None = None
    ) -> T:
        """One router call, then every check on a snapshot taken right after it. ``named``:
        the offers the result shows were made to an agent a human chose (not ranked)."""
        try:
            result = self.run(awaitable)
        except BaseException:
            # A refused call that changed state (a late accept expires its offer) is checked
            # like any other. One that changed nothing is not judged at this "now": refusals
            # return before applying what came due (the next call or tick does).
            after = self.run(self.any_router().snapshot(self.now))
            if unchanged(after) != unchanged(self.snap):
                self.verify()
            else:
                self.snap = after
            raise
        routes = [result] if isinstance(result, RouteResult) else []
        self.verify(routes=routes, named=named(result) if named else ())
        return result

    def verify(
        self,
        *,
        routes: Sequence[RouteResult] = (),
        named: Sequence[str] = (),
        later: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        """The oracle on a fresh snapshot; then the reading API and ``routes`` against it."""
        before = self.snap
        router = self.any_router()
        self.snap = snap = self.run(router.snapshot(self.now))
        was_waiting = set(before.get("waiting", []))
        fresh = set(offers_of(snap)) - self.checker.prev_offers
        problems = self.checker.problems(snap, self.now_ms, named=named, later=later)
        problems += self.run(
            api_problems(
                router,
                self.config,
                snap,
                self.now_ms,
                left=was_waiting - set(snap["waiting"]),
                fresh=fresh,
                named=named,
            )
        )
        for i, result in enumerate(routes):
            problems += route_problems(snap, result, last=i == len(routes) - 1)
        problems += self.run(index_problems(self.redis, self.config, self.now_ms))
        assert not problems, "\n".join(problems)

    @property
    def now(self) -> float:
        return self.now_ms / 1000

    def step(self, ms: int) -> None:
        """Advance the clock; live nodes heartbeat."""
        self.now_ms += ms
        for n in self.nodes:
            if self.alive[n]:
                self.run(self.routers[n].heartbeat(self.now))

    def any_router(self) -> Router:
        return self.routers[next((n for n in self.nodes if self.alive[n]), self.nodes[0])]

    def live_node(self, node: str) -> str:
        return node if self.alive[node] else next((n for n in self.nodes if self.alive[n]), node)

    def request(self, arrival: Arrival) -> ConversationRequest:
        topic, language, priority, preferred, avoid = arrival
        if isinstance(preferred, int):
            tcfg = self.config.topics[topic]
            probe = {"topic": topic, "language": language, "avoid": []}
            staff = sorted(
                a["agent_id"]
                for a in self.snap["agents"]
                if qualified(a, probe, tcfg.topic_level, tcfg.language_level)
                and (preferred >= 0 or a["load"] >= a["capacity"])
            )
            preferred = staff[preferred % len(staff)] if staff else None
        self.count += 1
        return ConversationRequest(
            f"c{self.count}", topic, language, priority, preferred, tuple(avoid)
        )

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    @initialize(team=own("team"))
    def start(self, team: list[Member]) -> None:
        """The starting team, sent as one batch per node (each binds its own agents)."""
        self.run(self.redis.flushall())
        self.snap = {}
        self.step(0)
        batches = {n: self.routers[n].batch() for n in self.nodes}
        for i, (skills, capacity, status) in enumerate(team):
            agent, node = self.agent_ids[i], self.nodes[i % len(self.nodes)]
            batch = batches[node].upsert_agent(
                agent, {**self.base_skills, **skills}, capacity, self.now
            )
            if status != "offline":
                batch.set_status(agent, status, self.now)  # type: ignore[arg-type]
            self.home[agent] = node
        for batch in batches.values():
            results = self.run(batch.execute())
            assert not any(isinstance(r, Exception) for r in results), results
        self.verify()

    # Agents ---------------------------------------------------------------------------------

    @rule(
        agent=own("agent"),
        node=own("node"),
        skills=own("skills"),
        capacity=own("capacity"),
        ms=own("advance"),
    )
    def agent_joins(
        self, agent: str, node: str, skills: dict[str, int], capacity: int, ms: int
    ) -> None:
        self.step(ms)
        node = self.live_node(node)
        r = self.routers[node]
        self.call(r.upsert_agent(agent, skills, capacity, self.now))
        self.call(r.set_status(agent, "online", self.now))
        self.home[agent] = node

    @rule(
        agent=own("agent"),
        status=st.sampled_from(["online", "online", "away", "offline"]),
        ms=own("advance"),
    )
    def agent_status(self, agent: str, status: str, ms: int) -> None:
        self.step(ms)
        node = self.home.get(agent)
        if node is None or not self.alive[node]:
            self.call(self.any_router().tick(self.now))
            return
        self.call(self.routers[node].set_status(agent, status, self.now))  # type: ignore[arg-type]

    @rule(agent=own("agent"), capacity=st.integers(min_value=0, max_value=4), ms=own("advance"))
    def agent_capacity(self, agent: str, capacity: int, ms: int) -> None:
        self.step(ms)
        if agent not in self.home:
            self.call(self.any_router().tick(self.now))
            return
        self.call(self.any_router().set_capacity(agent, capacity, self.now))

    @rule(agent=own("agent"), skills=own("skills"), ms=own("advance"))
    def agent_skills(self, agent: str, skills: dict[str, int], ms: int) -> None:
        self.step(ms)
        a = next((x for x in self.snap["agents"] if x["agent_id"] == agent), None)
        capacity = a["capacity"] if a else 2
        self.call(self.any_router().upsert_agent(agent, skills, capacity, self.now))

    # Conversations --------------------------------------------------------------------------

    @rule(arrival=own("arrival"), ms=own("advance"))
    def arrive(self, arrival: Arrival, ms: int) -> None:
        self.step(ms)
        result = self.call(self.any_router().request(self.request(arrival), self.now))
        assert result.status in ("queued", "offered")
        if result.status == "queued":
            assert result.position is not None and result.position >= 1

    @rule(arrivals=own("arrivals"), ms=own("advance"))
    def arrive_many(self, arrivals: list[Arrival], ms: int) -> None:
        """Several conversations at the same moment, in one round trip (Router.batch).

        The first request applies whatever came due and may make several offers; each later
        one can only offer its own conversation (nothing else changed since the one before),
        so its offer comes after all of the first call's (``later``: what each later call
        created and offered, for the oracle)."""
        self.step(ms)
        batch = self.any_router().batch()
        for arrival in arrivals:
            batch.request(self.request(arrival), self.now)
        results = self.run(batch.execute())
        errors = [r for r in results if not isinstance(r, RouteResult)]
        assert not errors, errors
        routes: list[RouteResult] = results
        self.verify(
            routes=routes,
            later=[(r.conversation_id, r.offer.offer_id if r.offer else None) for r in routes[1:]],
        )

    def _offers(self) -> list[tuple[str, str]]:
        """(offer id, agent) in a replayable order (offer ids themselves are random)."""
        found = sorted(
            (a["agent_id"], o["conversation_id"], o["offer_id"])
            for a in self.snap["agents"]
            for o in a["offers"]
        )
        return [(offer_id, agent) for agent, _, offer_id in found]

    @precondition(lambda self: any(a["offers"] for a in self.snap["agents"]))
    @rule(data=st.data(), n=own("several"), ms=own("advance"))
    def accept(self, data: st.DataObject, n: int, ms: int) -> None:
        for i in range(n):
            offers = self._offers()
            if not offers:
                return
            offer_id, agent = offers[data.draw(st.integers(0, len(offers) - 1))]
            deadline = next(
                o["deadline"]
                for a in self.snap["agents"]
                for o in a["offers"]
                if o["offer_id"] == offer_id
            )
            self.step(ms if i == 0 else 0)
            if self.now_ms >= deadline:
                with pytest.raises(OfferExpired):
                    self.call(self.any_router().accept(offer_id, agent, self.now))
            else:
                assignment = self.call(self.any_router().accept(offer_id, agent, self.now))
                assert assignment.agent_id == agent
                assert assignment.explanation.get("winner") == agent, assignment.explanation

    @precondition(lambda self: any(a["offers"] for a in self.snap["agents"]))
    @rule(data=st.data(), n=own("several"), ms=own("advance"))
    def decline(self, data: st.DataObject, n: int, ms: int) -> None:
        for i in range(n):
            offers = self._offers()
            if not offers:
                return
            offer_id, agent = offers[data.draw(st.integers(0, len(offers) - 1))]
            self.step(ms if i == 0 else 0)
            self.call(self.any_router().decline(offer_id, agent, self.now))

    def _active(self) -> list[str]:
        return sorted(c for a in self.snap["agents"] for c in a["active"])

    @precondition(lambda self: any(a["active"] for a in self.snap["agents"]))
    @rule(data=st.data(), n=own("several"), ms=own("advance"))
    def release(self, data: st.DataObject, n: int, ms: int) -> None:
        for i in range(n):
            active = self._active()
            if not active:
                return
            cid = data.draw(st.sampled_from(active))
            self.step(ms if i == 0 else 0)
            self.call(self.any_router().release(cid, self.now))

    @precondition(lambda self: any(a["active"] for a in self.snap["agents"]))
    @rule(data=st.data(), topic=st.one_of(st.none(), own("topic")), ms=own("advance"))
    def transfer_to_queue(self, data: st.DataObject, topic: str | None, ms: int) -> None:
        cid = data.draw(st.sampled_from(self._active()))
        self.step(ms)
        result = self.call(self.any_router().transfer(cid, self.now, to_topic=topic))
        assert result.status in ("queued", "offered")

    @precondition(lambda self: any(a["active"] for a in self.snap["agents"]))
    @rule(data=st.data(), to=own("agent"), ms=own("advance"))
    def transfer_to_agent(self, data: st.DataObject, to: str, ms: int) -> None:
        """A human picks the agent: online with room, skills not required, else refused."""
        cid = data.draw(st.sampled_from(self._active()))
        holder = next(a["agent_id"] for a in self.snap["agents"] if cid in a["active"])
        target = next((a for a in self.snap["agents"] if a["agent_id"] == to), None)
        self.step(ms)  # heartbeats only: nothing the transfer judges changes
        call = self.any_router().transfer(cid, self.now, to_agent=to)
        if target is None:
            with pytest.raises(UnknownAgent):
                self.call(call)
        elif target["status"] != "online" or to == holder or target["load"] >= target["capacity"]:
            with pytest.raises(AgentUnavailable):
                self.call(call)
        else:
            result = self.call(call, named=lambda r: [r.offer.offer_id] if r.offer else [])
            assert result.status == "offered" and result.offer is not None
            assert result.offer.agent_id == to

    @precondition(lambda self: any(c["state"] != "active" for c in self.snap["conversations"]))
    @rule(data=st.data(), ms=own("advance"))
    def cancel(self, data: st.DataObject, ms: int) -> None:
        ids = sorted(
            c["conversation_id"] for c in self.snap["conversations"] if c["state"] != "active"
        )
        cid = data.draw(st.sampled_from(ids))
        self.step(ms)
        self.call(self.any_router().cancel(cid, self.now))

    # Time and processes ---------------------------------------------------------------------

    @rule(ms=st.one_of(own("advance"), own("long_advance")))
    def tick(self, ms: int) -> None:
        self.step(ms)
        result = self.call(self.any_router().tick(self.now))
        for offer in result.expired:
            assert offer.deadline * 1000 <= self.now_ms

    def _boundaries(self) -> dict[str, list[int]]:
        """Moments after now when a waiting conversation's options widen by time alone, by
        kind: relaxation steps, ends of preferred windows, ends of cooldowns."""
        out: dict[str, set[int]] = {"relax": set(), "window": set(), "cooldown": set()}
        window = round(self.config.preferred_window_s * 1000)
        for c in self.snap["conversations"]:
            if c["state"] != "waiting":
                continue
            topic = self.config.topics.get(c["topic"])
            if topic:
                out["relax"].update(c["arrived_at"] + round(s.after_s * 1000) for s in topic.relax)
            if c["preferred"]:
                out["window"].add(c["arrived_at"] + window)
            out["cooldown"].update(entry[0] for entry in c["cooldown"].values())
        return {k: sorted(m for m in v if m > self.now_ms) for k, v in out.items()}

    def _to_boundary(self, data: st.DataObject, kind: str, early: int, tick: bool) -> None:
        """The clock to exactly such a moment (or 1 ms before): a step applies at waited ≥
        after_s, a window or a cooldown is over at its end. Noticed by a tick, or by a request
        (every state-changing call applies what came due)."""
        moments = self._boundaries()[kind]
        self.step(max(0, data.draw(st.sampled_from(moments[:4])) - early - self.now_ms))
        if tick:
            self.call(self.any_router().tick(self.now))
        else:
            self.call(self.any_router().request(self.request(data.draw(self.arrival)), self.now))

    @precondition(lambda self: bool(self._boundaries()["relax"]))
    @rule(data=st.data(), early=st.sampled_from([0, 0, 1]), tick=st.booleans())
    def to_relaxation_step(self, data: st.DataObject, early: int, tick: bool) -> None:
        self._to_boundary(data, "relax", early, tick)

    @precondition(lambda self: bool(self._boundaries()["window"]))
    @rule(data=st.data(), early=st.sampled_from([0, 0, 1]), tick=st.booleans())
    def to_window_end(self, data: st.DataObject, early: int, tick: bool) -> None:
        self._to_boundary(data, "window", early, tick)

    @precondition(lambda self: bool(self._boundaries()["cooldown"]))
    @rule(data=st.data(), early=st.sampled_from([0, 0, 1]), tick=st.booleans())
    def to_cooldown_end(self, data: st.DataObject, early: int, tick: bool) -> None:
        self._to_boundary(data, "cooldown", early, tick)

    @precondition(lambda self: sum(self.alive.values()) > 1)
    @rule(node=own("node"))
    def node_dies(self, node: str) -> None:
        self.alive[node] = False
        self.step(0)
        self.call(self.any_router().tick(self.now))

    @precondition(lambda self: not all(self.alive.values()))
    @rule(ms=own("advance"))
    def node_restarts(self, ms: int) -> None:
        node = next(n for n in self.nodes if not self.alive[n])
        self.alive[node] = True
        self.step(ms)
        self.call(self.routers[node].tick(self.now))

    # Invariants -----------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        # Checked after every call (self.call); here only that nothing changed since.
        if self.snap:
            assert self.run(self.any_router().snapshot(self.now)) == self.snap


__all__ = ["Arrival", "Member", "RoutingMachine", "own"]
