"""An independent Python oracle for the routing invariants, checked against a snapshot.

It re-implements eligibility from the documented rules (not from the Lua code) and checks:
  * every agent's load = active + reserved, and no agent over capacity (unless its capacity was
    lowered below what it already held — then it must get nothing new);
  * no conversation held (active or offered) by two agents, and every state is consistent with
    the queues and the agents' sets;
  * every new offer meets its requirements at the relaxation step in force;
  * rule 2: every new offer went to the best-ranked eligible agent with room at the moment it
    was made (lowest load ratio, then longest idle, then id) — see ``Checker.replay``;
  * no eligible agent with room while a conversation it could take waits;
  * an agent offered a conversation had no eligible waiting conversation ahead of it
    (higher priority, or same priority and earlier arrival);
  * the queues hold the waiting conversations in (priority desc, arrival asc, id) order, and
    positions (1..n per topic) and wait estimates follow the documented formula.

``api_problems`` checks the same positions through ``Router.position`` and ``Router.queue``,
and the decision records of offered conversations through ``Router.explain``;
``route_problems`` checks a ``RouteResult`` against the snapshot taken after it. Explanation
records are judged on ``kind``, ``winner``, ``step`` and ``required`` only: the ``candidates``
list is a presentation detail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

from routing import Router, RouteResult, RoutingConfig
from routing.eta import estimate_wait

TWO42 = 2**42
T = TypeVar("T")

Offers = dict[str, tuple[str, str]]  # offer id -> (agent id, conversation id)


def _levels(config: RoutingConfig, c: dict[str, Any], now_ms: int) -> tuple[int, int, int]:
    topic = config.topics[c["topic"]]
    step = topic.step_at((now_ms - c["arrived_at"]) / 1000)
    tl, ll = topic.levels(step)
    return step, tl, ll


def required(config: RoutingConfig, c: dict[str, Any], now_ms: int) -> tuple[int, dict[str, int]]:
    """(step, {skill: level}) in force for a conversation, as its decision records show it."""
    step, tl, ll = _levels(config, c, now_ms)
    req = {}
    if tl > 0:
        req[c["topic"]] = tl
    if ll > 0:
        req[c["language"]] = ll
    return step, req


def qualified(a: dict[str, Any], c: dict[str, Any], tl: int, ll: int) -> bool:
    if a["status"] != "online" or a["agent_id"] in c["avoid"]:
        return False
    if tl > 0 and a["skills"].get(c["topic"], 0) < tl:
        return False
    return not (ll > 0 and a["skills"].get(c["language"], 0) < ll)


def cooling(c: dict[str, Any], agent_id: str, now_ms: int) -> bool:
    entry = c["cooldown"].get(agent_id)
    return bool(entry) and bool(entry[0] > now_ms)


def eligible_ignoring_room(
    config: RoutingConfig,
    agents: dict[str, dict[str, Any]],
    a: dict[str, Any],
    c: dict[str, Any],
    now_ms: int,
) -> bool:
    """Rule 1 without the capacity test, plus the preferred-agent window and the cooldown."""
    _, tl, ll = _levels(config, c, now_ms)
    if not qualified(a, c, tl, ll):
        return False
    pref = c.get("preferred")
    if pref and now_ms < c["arrived_at"] + round(config.preferred_window_s * 1000):
        p = agents.get(pref)
        if p is not None and qualified(p, c, tl, ll) and not cooling(c, pref, now_ms):
            return bool(a["agent_id"] == pref)
    if cooling(c, a["agent_id"], now_ms):
        others = any(
            qualified(b, c, tl, ll) and not cooling(c, b["agent_id"], now_ms)
            for b in agents.values()
        )
        if others:
            return False
    return True


def has_room(a: dict[str, Any]) -> bool:
    return bool(a["load"] < a["capacity"])


def rank(a: dict[str, Any], load: int | None = None) -> tuple[Fraction, int, str]:
    """Rule 2: lowest load ratio, then longest idle (earliest idle_since), then id."""
    held = a["load"] if load is None else load
    return Fraction(held, a["capacity"]), a["idle_since"], a["agent_id"]


def score(c: dict[str, Any]) -> tuple[int, str]:
    return -c["priority"] * TWO42 + c["arrived_at"], c["conversation_id"]


def offers_of(snap: dict[str, Any]) -> Offers:
    return {
        o["offer_id"]: (a["agent_id"], o["conversation_id"])
        for a in snap["agents"]
        for o in a["offers"]
    }


def serving_order(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """The waiting conversations in serving order: priority desc, arrival asc, then id."""
    return sorted((c for c in snap["conversations"] if c["state"] == "waiting"), key=score)


def expected_queues(snap: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each topic's waiting conversations in serving order (position = index + 1)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in serving_order(snap):
        out.setdefault(c["topic"], []).append(c)
    return out


def expected_positions(
    config: RoutingConfig, snap: dict[str, Any]
) -> dict[str, tuple[int, int | None]]:
    """conversation id -> (position, eta_s) of every waiting conversation, from the rules."""
    agents = snap["agents"]
    out: dict[str, tuple[int, int | None]] = {}
    for topic, queue in expected_queues(snap).items():
        tcfg = config.topics[topic]
        for i, c in enumerate(queue, start=1):
            cap = sum(
                a["capacity"]
                for a in agents
                if qualified(a, {**c, "avoid": []}, tcfg.topic_level, tcfg.language_level)
            )
            eta = estimate_wait(
                i,
                snap["handle_times"].get(topic, []),
                cap,
                round(config.handle_time_default_s * 1000),
            )
            out[c["conversation_id"]] = (i, eta)
    return out


def agents_online(snap: dict[str, Any], topic: str) -> int:
    """Online agents having the topic skill at any level (RouteResult.agents_online)."""
    return sum(
        1 for a in snap["agents"] if a["status"] == "online" and a["skills"].get(topic, 0) > 0
    )


@dataclass
class Checker:
    config: RoutingConfig
    prev_offers: set[str] = field(default_factory=set)
    prev_load: dict[str, int] = field(default_factory=dict)

    def check(
        self,
        snap: dict[str, Any],
        now_ms: int,
        *,
        new_offers: bool = True,
        named: Iterable[str] = (),
        later: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        problems = self.problems(snap, now_ms, new_offers=new_offers, named=named, later=later)
        assert not problems, "\n".join(problems)

    def problems(
        self,
        snap: dict[str, Any],
        now_ms: int,
        *,
        new_offers: bool = True,
        named: Iterable[str] = (),
        later: Sequence[tuple[str, str | None]] = (),
    ) -> list[str]:
        """Everything wrong with ``snap``, taken at ``now_ms`` right after one call (or one
        batch of requests: see ``replay`` for ``named`` and ``later``). ``new_offers=False``:
        the snapshot is a sample of a state others change (no judgement of offers made since
        the last one)."""
        cfg = self.config
        out: list[str] = []
        agents = {a["agent_id"]: a for a in snap["agents"]}
        convs = {c["conversation_id"]: c for c in snap["conversations"]}
        offers = offers_of(snap)
        fresh = {oid: v for oid, v in offers.items() if oid not in self.prev_offers}
        named = {oid for oid in named if oid in fresh}
        # A batch: which call (1 = the first) created a conversation or made an offer.
        created = {cid: k for k, (cid, _) in enumerate(later, start=2)}
        made_by = {oid: k for k, (_, oid) in enumerate(later, start=2) if oid is not None}

        # Capacity and load bookkeeping.
        for a in agents.values():
            held = len(a["active"]) + len(a["offers"])
            if a["load"] != held:
                out.append(f"agent {a['agent_id']}: load {a['load']} != held {held}")
            if a["load"] > a["capacity"]:
                got_new = any(ag == a["agent_id"] for ag, _ in fresh.values())
                grew = a["load"] > self.prev_load.get(a["agent_id"], 0)
                if got_new or grew or not new_offers:
                    out.append(
                        f"agent {a['agent_id']}: over capacity {a['load']}/"
                        f"{a['capacity']} after a new offer"
                    )
        free = sorted(
            a["agent_id"] for a in agents.values() if a["status"] == "online" and has_room(a)
        )
        if free != snap["free"]:
            out.append(f"free set {snap['free']} != online agents with room {free}")

        # Who holds what.
        holders: dict[str, list[str]] = {}
        for a in agents.values():
            for cid in a["active"]:
                holders.setdefault(cid, []).append(f"{a['agent_id']}(active)")
        for oid, (aid, cid) in offers.items():
            holders.setdefault(cid, []).append(f"{aid}(offer {oid})")
        for cid, who in holders.items():
            if len(who) > 1:
                out.append(f"conversation {cid} held by {who}")
            if cid not in convs:
                out.append(f"unknown conversation {cid} held by {who}")
        waiting_set = set(snap["waiting"])
        for c in convs.values():
            cid, state = c["conversation_id"], c["state"]
            if state == "waiting":
                if cid in holders:
                    out.append(f"waiting {cid} is held by {holders[cid]}")
                if cid not in waiting_set or cid not in snap["queues"].get(c["topic"], []):
                    out.append(f"waiting {cid} missing from its queues")
            elif state == "offered":
                if offers.get(c["offer_id"]) != (c["agent_id"], cid):
                    out.append(
                        f"offered {cid}: offer {c['offer_id']} not reserved on {c['agent_id']}"
                    )
            elif state == "active":
                a = agents.get(c["agent_id"])
                if a is None or cid not in a["active"]:
                    out.append(f"active {cid} not in {c['agent_id']}'s active set")
            else:
                out.append(f"conversation {cid} in unexpected state {state}")
            if state != "waiting" and cid in waiting_set:
                out.append(f"{state} {cid} still in the waiting queue")

        # New offers: requirements at the step in force, rule 2, and first-eligible order.
        waiting = [c for c in convs.values() if c["state"] == "waiting"]
        if new_offers:
            for oid, (aid, cid) in fresh.items():
                c, a = convs.get(cid), agents.get(aid)
                if c is None or a is None or oid in named:
                    continue
                step, tl, ll = _levels(cfg, c, now_ms)
                if not qualified(a, c, tl, ll):
                    out.append(
                        f"offer {oid}: {aid} does not meet {cid}'s requirements at "
                        f"step {step} (topic {tl}, language {ll}), skills {a['skills']}"
                    )
                elif not eligible_ignoring_room(cfg, agents, a, c, now_ms):
                    out.append(
                        f"offer {oid}: {aid} is not eligible for {cid} (preferred agent "
                        f"window or cooldown)"
                    )
                for w in waiting:
                    if created.get(w["conversation_id"], 1) > made_by.get(oid, 1):
                        continue  # it arrived after this offer was made
                    if score(w) < score(c) and eligible_ignoring_room(cfg, agents, a, w, now_ms):
                        out.append(
                            f"offer {oid}: {aid} got {cid} while {w['conversation_id']} "
                            f"(ahead of it) waits and {aid} is eligible for it"
                        )
            then = [oid for _, oid in later if oid is not None]
            out += self.replay(agents, convs, fresh, now_ms, named, then)

        # No eligible agent with room while a conversation it could take waits.
        for c in waiting:
            for a in agents.values():
                if has_room(a) and eligible_ignoring_room(cfg, agents, a, c, now_ms):
                    out.append(
                        f"{c['conversation_id']} waits while {a['agent_id']} "
                        f"({a['load']}/{a['capacity']}) is eligible for it"
                    )

        # Queue order, positions and wait estimates, from the conversations themselves.
        order = [c["conversation_id"] for c in serving_order(snap)]
        if snap["waiting"] != order:
            out.append(f"waiting queue {snap['waiting']} != serving order {order}")
        queues = {t: [c["conversation_id"] for c in q] for t, q in expected_queues(snap).items()}
        for topic in sorted(set(queues) | set(snap["queues"])):
            ids = snap["queues"].get(topic, [])
            if ids != queues.get(topic, []):
                out.append(f"queue {topic} {ids} != serving order {queues.get(topic, [])}")
        for cid, (pos, eta) in expected_positions(cfg, snap).items():
            c = convs[cid]
            if (c["position"], c["eta_s"]) != (pos, eta):
                out.append(f"{cid}: position/eta {c['position']}/{c['eta_s']} != {pos}/{eta}")

        self.prev_offers = set(offers)
        self.prev_load = {a["agent_id"]: a["load"] for a in agents.values()}
        return out

    def replay(
        self,
        agents: dict[str, dict[str, Any]],
        convs: dict[str, dict[str, Any]],
        fresh: Offers,
        now_ms: int,
        named: set[str],
        then: Sequence[str],
    ) -> list[str]:
        """Rule 2 for every new offer, at the moment it was made.

        The offers of one call come after everything else the call changed (statuses, freed
        slots, idle times, requeued conversations): they are made in one pass over the
        conversations in serving order, each to the best-ranked eligible agent with room at
        that moment. So the state before the pass is the state after the call less its new
        offers, and replaying them in serving order gives each one's moment: only loads change
        between two offers, and eligibility apart from room does not depend on loads.

        ``named``: offers to an agent a human chose (transfer), made before the pass and not
        ranked. ``then``: offers known to be made by later calls of a batch, in order (each
        after the first call's pass, which is all that can happen in a batch of requests: a
        later request can only offer its own conversation, nothing else having changed)."""
        cfg = self.config
        out: list[str] = []
        load = {aid: a["load"] for aid, a in agents.items()}
        for aid, _ in fresh.values():
            if aid in load:
                load[aid] -= 1
        for oid in named:
            load[fresh[oid][0]] += 1
        later = [oid for oid in then if oid in fresh and oid not in named]
        first = sorted(
            (oid for oid in fresh if oid not in named and oid not in later),
            key=lambda oid: (
                score(convs[fresh[oid][1]]) if fresh[oid][1] in convs else (0, ""),
                oid,
            ),
        )
        for oid in [*first, *later]:
            aid, cid = fresh[oid]
            c = convs.get(cid)
            if c is None or aid not in agents:
                continue
            room = [
                b
                for b in agents.values()
                if load[b["agent_id"]] < b["capacity"]
                and eligible_ignoring_room(cfg, agents, b, c, now_ms)
            ]
            if load[aid] >= agents[aid]["capacity"]:
                out.append(
                    f"offer {oid}: {aid} got {cid} with no room "
                    f"({load[aid]}/{agents[aid]['capacity']} when it was offered)"
                )
            elif room:
                best = min(room, key=lambda b: rank(b, load[b["agent_id"]]))
                if best["agent_id"] != aid:
                    have = {
                        b[
                            "agent_id"
                        ]: f"{load[b['agent_id']]}/{b['capacity']} idle {b['idle_since']}"
                        for b in sorted(room, key=lambda b: rank(b, load[b["agent_id"]]))
                    }
                    out.append(
                        f"offer {oid}: {cid} went to {aid} but {best['agent_id']} ranked first "
                        f"among the eligible agents with room (rule 2): {have}"
                    )
            load[aid] += 1
        return out


def route_problems(snap: dict[str, Any], result: RouteResult, *, last: bool = True) -> list[str]:
    """A RouteResult (request or transfer) against the snapshot taken after its call.
    ``last``: no call ran after it (otherwise later arrivals may have moved it back)."""
    out: list[str] = []
    cid = result.conversation_id
    c = next((x for x in snap["conversations"] if x["conversation_id"] == cid), None)
    if c is None:
        return [f"{cid}: routed but unknown to the snapshot"]
    online = agents_online(snap, c["topic"])
    if result.agents_online != online:
        out.append(
            f"{cid}: agents_online {result.agents_online} != {online} online agents having "
            f"the skill {c['topic']}"
        )
    if result.status == "offered":
        o = result.offer
        if (
            o is None
            or c["state"] != "offered"
            or (o.agent_id, o.offer_id)
            != (
                c["agent_id"],
                c["offer_id"],
            )
        ):
            out.append(f"{cid}: answered offered ({o}) but is {c['state']} {c['offer_id']}")
    elif c["state"] != "waiting":
        out.append(f"{cid}: answered queued but is {c['state']}")
    elif last and (result.position, result.eta_s) != (c["position"], c["eta_s"]):
        out.append(
            f"{cid}: answered position/eta {result.position}/{result.eta_s}, the queue says "
            f"{c['position']}/{c['eta_s']}"
        )
    elif result.position is None or not 1 <= result.position <= c["position"]:
        out.append(f"{cid}: answered position {result.position}, now {c['position']}")
    return out


async def gathered(calls: list[Coroutine[Any, Any, T]], at_once: int = 16) -> list[T]:
    """The calls' results in order, a few at a time (each needs a connection of its own)."""
    out: list[T] = []
    for i in range(0, len(calls), at_once):
        out += await asyncio.gather(*calls[i : i + at_once])
    return out


async def api_problems(
    router: Router,
    config: RoutingConfig,
    snap: dict[str, Any],
    now_ms: int,
    *,
    left: Iterable[str] = (),
    fresh: Iterable[str] = (),
    named: Iterable[str] = (),
) -> list[str]:
    """The reading API against the snapshot taken right before it (nothing ran in between):
    ``position`` of every waiting conversation and of those that ``left`` the queue,
    ``queue``, and the last decision record of every offered conversation — for the offers
    in ``fresh`` (made by the last call) also its step and requirements at ``now_ms``.
    ``named``: offers to an agent a human chose (transfer: a "transfer" record)."""
    out: list[str] = []
    now = now_ms / 1000
    expected = expected_positions(config, snap)
    order = serving_order(snap)
    asked = [c["conversation_id"] for c in order] + sorted(set(left) - set(expected))
    answers = await gathered([router.position(cid, now) for cid in asked])
    for cid, got in zip(asked, answers, strict=True):
        want = expected.get(cid, (None, None))
        if got != want:
            out.append(f"position({cid}) = {got}, expected {want}")
    entries = await router.queue(now)
    got_q = [
        (
            e.conversation_id,
            e.topic,
            e.language,
            e.priority,
            round(e.arrived_at * 1000),
            e.position,
            e.eta_s,
            e.state,
        )
        for e in entries
    ]
    want_q = [
        (
            c["conversation_id"],
            c["topic"],
            c["language"],
            c["priority"],
            c["arrived_at"],
            *expected[c["conversation_id"]],
            "waiting",
        )
        for c in order
    ]
    if got_q != want_q:
        out.append(f"queue() = {got_q}\n  expected {want_q}")

    fresh, named = set(fresh), set(named)
    offered = [c for c in snap["conversations"] if c["state"] == "offered"]
    explained = await gathered([router.explain(c["conversation_id"]) for c in offered])
    for c, records in zip(offered, explained, strict=True):
        cid, oid = c["conversation_id"], c["offer_id"]
        kinds = ("transfer",) if oid in named else ("offer", "transfer")
        last = next((r for r in reversed(records) if r.get("kind") in kinds), None)
        if last is None:
            out.append(f"explain({cid}): no {'/'.join(kinds)} record for offer {oid}")
            continue
        if last.get("winner") != c["agent_id"]:
            out.append(
                f"explain({cid}): last {last.get('kind')} record names {last.get('winner')}, "
                f"offered to {c['agent_id']}"
            )
        if oid in fresh and oid not in named:
            step, req = required(config, c, now_ms)
            if (last.get("kind"), last.get("step"), last.get("required")) != ("offer", step, req):
                out.append(
                    f"explain({cid}): last decision {last.get('kind')} step {last.get('step')} "
                    f"required {last.get('required')}, expected offer step {step} required {req}"
                )
    return out
