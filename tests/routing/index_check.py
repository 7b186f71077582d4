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


async def index_problems(
    redis: aioredis.Redis, config: RoutingConfig, now_ms: int, prefix: str = "{cs}"
) -> list[str]:
    def k(*parts: str) -> str:
        return ":".join((prefix, *parts))

    out: list[str] = []
    agents: dict[str, dict[str, Any]] = {}
    for raw_id in await redis.smembers(k("agents")):
        aid = _s(raw_id)
        h = {_s(f): _s(v) for f, v in (await redis.hgetall(k("agent", aid))).items()}
        agents[aid] = {
            "status": h["status"],
            "load": int(h["load"]),
            "capacity": int(h["capacity"]),
            "idle": int(h["idle"]),
            "skills": {f[2:]: int(v) for f, v in h.items() if f.startswith("s:")},
            "cls": set(h.get("cls", "").split()),
        }
    online = {a for a, x in agents.items() if x["status"] == "online"}
    classes = {_s(x) for x in await redis.smembers(k("classes"))}
    missing = set(config.classes()) - classes
    if missing:
        out.append(f"classes of the configuration not indexed: {sorted(missing)}")
    ccap = {_s(f): int(v) for f, v in (await redis.hgetall(k("ccap"))).items()}
    for cls in sorted(classes):
        meeting = {a for a, x in agents.items() if _meets(x["skills"], cls)}
        for a in meeting:
            if cls not in agents[a]["cls"]:
                out.append(f"agent {a}: class {cls} missing from its list")
        co = {_s(x) for x in await redis.smembers(k("co", cls))}
        if co != meeting & online:
            out.append(f"co:{cls} = {sorted(co)} != {sorted(meeting & online)}")
        want_cf = {
            f"{agents[a]['idle']:015d}:{a}": (agents[a]["load"] * TWO32) // agents[a]["capacity"]
            for a in meeting & online
            if agents[a]["load"] < agents[a]["capacity"]
        }
        pairs: list[Any] = await redis.zrange(k("cf", cls), 0, -1, withscores=True)
        got_cf = {_s(pair[0]): int(pair[1]) for pair in pairs}
        if got_cf != want_cf:
            out.append(f"cf:{cls} = {got_cf} != {want_cf}")
        cap = sum(agents[a]["capacity"] for a in meeting & online)
        if ccap.get(cls, 0) != cap:
            out.append(f"ccap {cls} = {ccap.get(cls, 0)} != {cap}")
    sums = {_s(f): int(v) for f, v in (await redis.hgetall(k("sk"))).items()}
    skills = {s for x in agents.values() for s in x["skills"]} | {"*"}
    for skill in sorted(skills):
        have = {a for a in online if skill == "*" or skill in agents[a]["skills"]}
        got = {_s(x) for x in await redis.smembers(k("on", skill))}
        if got != have:
            out.append(f"on:{skill} = {sorted(got)} != {sorted(have)}")
        for name, field in (("cap", "capacity"), ("load", "load")):
            want = sum(agents[a][field] for a in have)
            if sums.get(f"{name}:{skill}", 0) != want:
                out.append(f"sk {name}:{skill} = {sums.get(f'{name}:{skill}', 0)} != {want}")
    away = {_s(x) for x in await redis.smembers(k("away"))}
    if away != {a for a, x in agents.items() if x["status"] == "away"}:
        out.append(f"away set {sorted(away)} is wrong")
    waiting = [_s(x) for x in await redis.zrange(k("waiting"), 0, -1)]
    filed: dict[str, set[str]] = {}
    by_topic: dict[str, set[str]] = {}
    for cid in waiting:
        c = {_s(f): _s(v) for f, v in (await redis.hgetall(k("conv", cid))).items()}
        want = _class_of(config, c, now_ms)
        if c.get("cls") != want:
            out.append(f"{cid}: filed under {c.get('cls')!r}, requires {want}")
        filed.setdefault(c.get("cls", ""), set()).add(cid)
        by_topic.setdefault(c["topic"], set()).add(cid)
    for cls in classes | set(filed):
        got = {_s(x) for x in await redis.zrange(k("cw", cls), 0, -1)}
        if got != filed.get(cls, set()):
            out.append(f"cw:{cls} = {sorted(got)} != {sorted(filed.get(cls, set()))}")
    for topic in set(config.topics) | set(by_topic):
        q = {_s(x) for x in await redis.zrange(k("q", topic), 0, -1)}
        qa = {_s(x) for x in await redis.zrange(k("qa", topic), 0, -1)}
        if not (q == qa == by_topic.get(topic, set())):
            out.append(f"queues of {topic}: q {sorted(q)}, qa {sorted(qa)}")
    return out
