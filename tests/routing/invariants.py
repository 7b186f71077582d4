"""An independent Python oracle for the routing invariants, checked against a snapshot.

It re-implements eligibility from the documented rules (not from the Lua code) and checks:
  * every agent's load = active + reserved, and no agent over capacity (unless its capacity was
    lowered below what it already held — then it must get nothing new);
  * no conversation held (active or offered) by two agents, and every state is consistent with
    the queues and the agents' sets;
  * every new offer meets its requirements at the relaxation step in force;
  * no eligible agent with room while a conversation it could take waits;
  * an agent offered a conversation had no eligible waiting conversation ahead of it
    (higher priority, or same priority and earlier arrival);
  * queue positions and wait estimates follow the documented formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from routing import RoutingConfig
from routing.eta import estimate_wait

TWO42 = 2**42


def _levels(config: RoutingConfig, c: dict[str, Any], now_ms: int) -> tuple[int, int, int]:
    topic = config.topics[c["topic"]]
    step = topic.step_at((now_ms - c["arrived_at"]) / 1000)
    tl, ll = topic.levels(step)
    return step, tl, ll


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


def rank(a: dict[str, Any]) -> tuple[Fraction, int, str]:
    """Rule 2: lowest load ratio, then longest idle (earliest idle_since), then id."""
    return Fraction(a["load"], a["capacity"]), a["idle_since"], a["agent_id"]


def score(c: dict[str, Any]) -> tuple[int, str]:
    return -c["priority"] * TWO42 + c["arrived_at"], c["conversation_id"]


@dataclass
class Checker:
    config: RoutingConfig
    prev_offers: set[str] = field(default_factory=set)
    prev_load: dict[str, int] = field(default_factory=dict)
    exempt: set[str] = field(default_factory=set)  # conversations transferred to a named agent

    def check(self, snap: dict[str, Any], now_ms: int, *, new_offers: bool = True) -> None:
        problems = self.problems(snap, now_ms, new_offers=new_offers)
        assert not problems, "\n".join(problems)

    def problems(self, snap: dict[str, Any], now_ms: int, *, new_offers: bool = True) -> list[str]:
        cfg = self.config
        out: list[str] = []
        agents = {a["agent_id"]: a for a in snap["agents"]}
        convs = {c["conversation_id"]: c for c in snap["conversations"]}
        offers = {
            o["offer_id"]: (a["agent_id"], o["conversation_id"])
            for a in snap["agents"]
            for o in a["offers"]
        }
        fresh = {oid: v for oid, v in offers.items() if oid not in self.prev_offers}

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

        # New offers: requirements at the step in force, and first-eligible order.
        waiting = [c for c in convs.values() if c["state"] == "waiting"]
        if new_offers:
            for oid, (aid, cid) in fresh.items():
                c, a = convs.get(cid), agents.get(aid)
                if c is None or a is None or cid in self.exempt:
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
                if len(fresh) == 1:
                    # The only offer of the call: loads were as now, the winner's one less.
                    won = {**a, "load": a["load"] - 1}
                    for b in agents.values():
                        if (
                            b["agent_id"] != aid
                            and has_room(b)
                            and eligible_ignoring_room(cfg, agents, b, c, now_ms)
                            and rank(b) < rank(won)
                        ):
                            out.append(
                                f"offer {oid}: {b['agent_id']} ranks before {aid} "
                                f"for {cid} (rule 2)"
                            )
                for w in waiting:
                    if score(w) < score(c) and eligible_ignoring_room(cfg, agents, a, w, now_ms):
                        out.append(
                            f"offer {oid}: {aid} got {cid} while {w['conversation_id']} "
                            f"(ahead of it) waits and {aid} is eligible for it"
                        )

        # No eligible agent with room while a conversation it could take waits.
        for c in waiting:
            for a in agents.values():
                if has_room(a) and eligible_ignoring_room(cfg, agents, a, c, now_ms):
                    out.append(
                        f"{c['conversation_id']} waits while {a['agent_id']} "
                        f"({a['load']}/{a['capacity']}) is eligible for it"
                    )

        # Positions and wait estimates.
        for topic, ids in snap["queues"].items():
            tcfg = cfg.topics[topic]
            for i, cid in enumerate(ids, start=1):
                c = convs.get(cid)
                if c is None:
                    out.append(f"queue {topic} lists unknown {cid}")
                    continue
                cap = sum(
                    a["capacity"]
                    for a in agents.values()
                    if qualified(a, {**c, "avoid": []}, tcfg.topic_level, tcfg.language_level)
                )
                eta = estimate_wait(
                    i,
                    snap["handle_times"].get(topic, []),
                    cap,
                    round(cfg.handle_time_default_s * 1000),
                )
                if (c["position"], c["eta_s"]) != (i, eta):
                    out.append(f"{cid}: position/eta {c['position']}/{c['eta_s']} != {i}/{eta}")

        self.prev_offers = set(offers)
        self.prev_load = {a["agent_id"]: a["load"] for a in agents.values()}
        return out
