"""The router's maintained indexes, recomputed from its plain state and compared.

The scripts keep per-class indexes (docs/routing.md, "Requirement classes") and per-skill sets
and sums up to date incrementally; a slip there would not break a decision at once but later,
on another call. This reads the raw keys (a test may look inside) and recomputes every index
from the agents' and conversations' own hashes, independently of the Lua code.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from routing import RoutingConfig

TWO32 = 2**32


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _class_of(config: RoutingConfig, c: dict[str, str], now_ms: int) -> str:
    topic = config.topics.get(c["topic"])
    if topic is None:  # removed by an edit: the fallback levels
        tl, ll = 1, 1
    else:
        tl, ll = topic.levels(topic.step_at((now_ms - int(c["arrived"])) / 1000))
    t = c["topic"] if tl else "*"
    g = c["lang"] if ll else "*"
    return f"{t}|{tl}|{g}|{ll}"


def _meets(skills: dict[str, int], cls: str) -> bool:
    t, tl, g, ll = cls.split("|")
    if int(tl) and skills.get(t, 0) < int(tl):
        return False
    return not (int(ll) and skills.get(g, 0) < int(ll))


async def _fetch(redis: aioredis.Redis, calls: list[tuple[str, Any]]) -> list[Any]:
    """Several reads in one round trip: (method name, args) each."""
    pipe = redis.pipeline(transaction=False)
    for name, args in calls:
        getattr(pipe, name)(*args)
    return list(await pipe.execute())


async def index_problems(
    redis: aioredis.Redis, config: RoutingConfig, now_ms: int, prefix: str = "{cs}"
) -> list[str]:
    def k(*parts: str) -> str:
        return ":".join((prefix, *parts))

    out: list[str] = []
    ids, raw_classes, raw_ccap, raw_sums, raw_away, raw_waiting = await _fetch(
        redis,
        [
            ("smembers", (k("agents"),)),
            ("smembers", (k("classes"),)),
            ("hgetall", (k("ccap"),)),
            ("hgetall", (k("sk"),)),
            ("smembers", (k("away"),)),
            ("zrange", (k("waiting"), 0, -1)),
        ],
    )
    agent_ids = sorted(_s(x) for x in ids)
    classes = {_s(x) for x in raw_classes}
    waiting = [_s(x) for x in raw_waiting]
    topics = sorted(set(config.topics))
    got = await _fetch(
        redis,
        [("hgetall", (k("agent", a),)) for a in agent_ids]
        + [("hgetall", (k("conv", c),)) for c in waiting]
        + [
            (name, (k(kind, cls), *extra))
            for cls in sorted(classes)
            for name, kind, extra in (
                ("smembers", "co", ()),
                ("zrange", "cf", (0, -1, False, True)),
            )
        ]
        + [("zrange", (k(kind, t), 0, -1)) for t in topics for kind in ("q", "qa")],
    )
    raw_agents, got = got[: len(agent_ids)], got[len(agent_ids) :]
    raw_convs, got = got[: len(waiting)], got[len(waiting) :]
    agents: dict[str, dict[str, Any]] = {}
    for aid, raw in zip(agent_ids, raw_agents, strict=True):
        h = {_s(f): _s(v) for f, v in raw.items()}
        agents[aid] = {
            "status": h["status"],
            "load": int(h["load"]),
            "capacity": int(h["capacity"]),
            "idle": int(h["idle"]),
            "skills": {f[2:]: int(v) for f, v in h.items() if f.startswith("s:")},
            "cls": set(h.get("cls", "").split()),
        }
    online = {a for a, x in agents.items() if x["status"] == "online"}
    missing = set(config.classes()) - classes
    if missing:
        out.append(f"classes of the configuration not indexed: {sorted(missing)}")
    ccap = {_s(f): int(v) for f, v in raw_ccap.items()}
    for cls in sorted(classes):
        raw_co, raw_cf, got = got[0], got[1], got[2:]
        meeting = {a for a, x in agents.items() if _meets(x["skills"], cls)}
        for a in meeting:
            if cls not in agents[a]["cls"]:
                out.append(f"agent {a}: class {cls} missing from its list")
        co = {_s(x) for x in raw_co}
        if co != meeting & online:
            out.append(f"co:{cls} = {sorted(co)} != {sorted(meeting & online)}")
        want_cf = {
            f"{agents[a]['idle']:015d}:{a}": (agents[a]["load"] * TWO32) // agents[a]["capacity"]
            for a in meeting & online
            if agents[a]["load"] < agents[a]["capacity"]
        }
        got_cf = {_s(pair[0]): int(pair[1]) for pair in raw_cf}
        if got_cf != want_cf:
            out.append(f"cf:{cls} = {got_cf} != {want_cf}")
        cap = sum(agents[a]["capacity"] for a in meeting & online)
        if ccap.get(cls, 0) != cap:
            out.append(f"ccap {cls} = {ccap.get(cls, 0)} != {cap}")
    queues = {}
    for t in topics:
        queues[t], got = (got[0], got[1]), got[2:]
    sums = {_s(f): int(v) for f, v in raw_sums.items()}
    skills = sorted({s for x in agents.values() for s in x["skills"]} | {"*"})
    on_sets = await _fetch(redis, [("smembers", (k("on", skill),)) for skill in skills])
    for skill, raw_on in zip(skills, on_sets, strict=True):
        have = {a for a in online if skill == "*" or skill in agents[a]["skills"]}
        got_on = {_s(x) for x in raw_on}
        if got_on != have:
            out.append(f"on:{skill} = {sorted(got_on)} != {sorted(have)}")
        for name, field in (("cap", "capacity"), ("load", "load")):
            want = sum(agents[a][field] for a in have)
            if sums.get(f"{name}:{skill}", 0) != want:
                out.append(f"sk {name}:{skill} = {sums.get(f'{name}:{skill}', 0)} != {want}")
    away = {_s(x) for x in raw_away}
    if away != {a for a, x in agents.items() if x["status"] == "away"}:
        out.append(f"away set {sorted(away)} is wrong")
    filed: dict[str, set[str]] = {}
    by_topic: dict[str, set[str]] = {}
    for cid, raw in zip(waiting, raw_convs, strict=True):
        c = {_s(f): _s(v) for f, v in raw.items()}
        want_cls = _class_of(config, c, now_ms)
        if c.get("cls") != want_cls:
            out.append(f"{cid}: filed under {c.get('cls')!r}, requires {want_cls}")
        filed.setdefault(c.get("cls", ""), set()).add(cid)
        by_topic.setdefault(c["topic"], set()).add(cid)
    names = sorted(classes | set(filed))
    cw_sets = await _fetch(redis, [("zrange", (k("cw", cls), 0, -1)) for cls in names])
    for cls, raw_cw in zip(names, cw_sets, strict=True):
        got_cw = {_s(x) for x in raw_cw}
        if got_cw != filed.get(cls, set()):
            out.append(f"cw:{cls} = {sorted(got_cw)} != {sorted(filed.get(cls, set()))}")
    for topic in set(topics) | set(by_topic):
        raw_q, raw_qa = queues.get(topic) or ([], [])
        if topic not in queues:  # a topic removed by an edit: read its queues now
            raw_q, raw_qa = await _fetch(
                redis, [("zrange", (k("q", topic), 0, -1)), ("zrange", (k("qa", topic), 0, -1))]
            )
        q = {_s(x) for x in raw_q}
        qa = {_s(x) for x in raw_qa}
        if not (q == qa == by_topic.get(topic, set())):
            out.append(f"queues of {topic}: q {sorted(q)}, qa {sorted(qa)}")
    return out
