"""The dashboard's figures: the live floor from a router snapshot, and the charts and the
agent table from `chatserver.analytics.figures` over a read-only snapshot of the store
(`chatserver.store.SnapshotSource`).

The routes (``dashboard.py``) run the figures in a worker thread, so the event loop never
waits on a scan; a `ChartCache` made with the routes keeps the charts of the last few seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from chatserver.analytics.figures import Group, buckets, series, summary
from chatserver.store import AgentRecord, Filters, SnapshotSource, iso_now

__all__ = ["CHARTS_TTL_S", "ChartCache", "agents_data", "charts_data", "floor"]

_STATUS_ORDER = {"online": 0, "away": 1, "offline": 2}


# --- the live floor -----------------------------------------------------------------------


def floor(
    snap: dict[str, Any],
    topics: tuple[str, ...],
    agents: dict[str, AgentRecord],
    *,
    now_ms: int,
    sla_wait_s: float,
) -> dict[str, Any]:
    """The live figures from one router snapshot (`Router.snapshot`). A chat *waits* from
    arrival until an agent accepts it: queued, or offered to an agent who has not answered
    yet (the visitor is still waiting either way). `Router.stats` counts the same per topic,
    offered chats aside."""
    convs = {c["conversation_id"]: c for c in snap["conversations"]}
    waiting = []
    for c in snap["conversations"]:
        if c["state"] not in ("waiting", "offered"):
            continue
        wait_s = max(0.0, (now_ms - c["arrived_at"]) / 1000)
        offered_to = agents.get(c.get("agent_id") or "")
        waiting.append(
            {
                "conversation_id": c["conversation_id"],
                "topic": c["topic"],
                "language": c["language"],
                "priority": c.get("priority") or 0,
                "visitor_name": c["meta"].get("visitor_name") or None,
                "preview": c["meta"].get("preview") or None,
                "state": c["state"],
                "offered_to": offered_to.display_name if offered_to and c["state"] == "offered"
                else None,
                "wait_s": round(wait_s, 1),
                "breach": wait_s > sla_wait_s,
            }
        )  # fmt: skip
    waiting.sort(key=lambda w: (-w["wait_s"], w["conversation_id"]))
    # From Router.live_floor: the queued ones are counted in Redis and only the longest-waiting
    # are listed; from a full snapshot (counts absent) every one is listed and counted here.
    counts: dict[str, Any] = snap.get("counts") or {}
    online = [a for a in snap["agents"] if a["status"] == "online"]
    topic_rows = []
    breaches = 0
    for name in topics:
        mine = [w for w in waiting if w["topic"] == name]
        staff = [a for a in online if name in a["skills"]]
        longest = max((w["wait_s"] for w in mine), default=0.0)
        count = len(mine)
        if name in counts:
            offered = [w for w in mine if w["state"] == "offered"]
            queued = counts[name]
            count = len(offered) + int(queued.get("queued", 0))
            if queued.get("oldest") is not None:
                longest = max(longest, round(max(0.0, (now_ms - queued["oldest"]) / 1000), 1))
            breaches += int(queued.get("breaching", 0)) + sum(1 for w in offered if w["breach"])
        else:
            breaches += sum(1 for w in mine if w["breach"])
        topic_rows.append(
            {
                "topic": name,
                "waiting": count,
                "longest_wait_s": longest,
                "breach": longest > sla_wait_s,
                "agents_online": len(staff),
                "capacity": sum(a["capacity"] for a in staff),
                "load": sum(a["load"] for a in staff),
            }
        )
    agent_rows = []
    seen: set[str] = set()
    for a in snap["agents"]:
        seen.add(a["agent_id"])
        record = agents.get(a["agent_id"])
        held = []
        for cid in a["active"]:
            c = convs.get(cid)
            accepted = (c or {}).get("accepted_at")
            held.append(
                {
                    "conversation_id": cid,
                    "topic": c["topic"] if c else None,
                    "visitor_name": (c["meta"].get("visitor_name") or None) if c else None,
                    "since_s": round((now_ms - accepted) / 1000, 1) if accepted else None,
                }
            )
        agent_rows.append(
            {
                "agent_id": a["agent_id"],
                "username": record.username if record else a["agent_id"],
                "display_name": record.display_name if record else a["agent_id"],
                "status": a["status"],
                "load": a["load"],
                "capacity": a["capacity"],
                "offers": len(a["offers"]),
                "held": held,
            }
        )
    for record in agents.values():  # chat-capable accounts the router has never seen
        if record.id not in seen and not record.disabled and "agent" in record.roles:
            agent_rows.append(
                {
                    "agent_id": record.id,
                    "username": record.username,
                    "display_name": record.display_name,
                    "status": "offline",
                    "load": 0,
                    "capacity": record.capacity,
                    "offers": 0,
                    "held": [],
                }
            )
    agent_rows.sort(
        key=lambda r: (_STATUS_ORDER.get(r["status"], 3), r["display_name"].lower(), r["username"])
    )
    states = [c["state"] for c in snap["conversations"]]
    return {
        "now": iso_now(now_ms / 1000),
        "sla_wait_s": sla_wait_s,
        "totals": {
            "waiting": sum(row["waiting"] for row in topic_rows) if counts else len(waiting),
            "longest_wait_s": max(
                [w["wait_s"] for w in waiting] + [row["longest_wait_s"] for row in topic_rows],
                default=0.0,
            ),
            "breaches": breaches,
            "active": int(snap["active"]) if "active" in snap else states.count("active"),
            "agents_online": len(online),
            "agents_away": sum(1 for a in snap["agents"] if a["status"] == "away"),
            "capacity": sum(a["capacity"] for a in online),
            "load": sum(a["load"] for a in online),
        },
        "topics": topic_rows,
        "waiting": waiting,
        "agents": agent_rows,
    }


# --- charts and the agent table -------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _stat(figures: dict[str, Any], name: str, key: str) -> float | None:
    value: float | None = figures[name][key]
    return value


def charts_data(store: SnapshotSource, hours: int, days: int, now: datetime) -> dict[str, Any]:
    """The charts' series: the last ``hours`` hours up to the end of the current hour, and
    the last ``days`` days up to the end of today (UTC). Two scans: `series` for the hours,
    `summary` for the days (its ``by_day``, with the days it lacks filled in, and
    ``by_topic``)."""
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    by_hours = Filters(since=_stamp(hour_end - timedelta(hours=hours)), until=_stamp(hour_end))
    by_days = Filters(since=_stamp(day_end - timedelta(days=days)), until=_stamp(day_end))
    with store.snapshot() as snapshot:
        hourly = series(snapshot, by_hours, "hour")
        overall = summary(snapshot, by_days, terms=False)
    assert by_days.since is not None and by_days.until is not None
    present = {r["key"]: r for r in overall["by_day"]}
    empty = Group().figures()
    daily = [
        {"key": key, **present.get(key, empty)}
        for key in buckets(by_days.since, by_days.until, "day")
    ]
    return {
        "hours": {
            "since": by_hours.since,
            "until": by_hours.until,
            "rows": [
                {
                    "start": r["start"],
                    "conversations": r["conversations"],
                    "served": r["served"],
                    "abandoned": r["abandoned"],
                    "bot_resolved": r["bots"]["resolved"],
                    "handed_over": r["bots"]["handed_over"],
                    "wait_p50_s": _stat(r, "wait_s", "p50"),
                    "wait_p90_s": _stat(r, "wait_s", "p90"),
                }
                for r in hourly
            ],
        },
        "days": {
            "since": by_days.since,
            "until": by_days.until,
            "rows": [
                {
                    "day": r["key"],
                    "conversations": r["conversations"],
                    "rated": r["csat"]["rated"],
                    "csat": r["csat"]["average"],
                }
                for r in daily
            ],
        },
        "topics": [
            {
                "topic": r["key"],
                "conversations": r["conversations"],
                "rated": r["csat"]["rated"],
                "csat": r["csat"]["average"],
            }
            for r in overall["by_topic"]
        ],
    }


class ChartCache:
    """The charts of the last few seconds, shared by every dashboard the app serves (one per
    app, made with its routes, for the app's one store): every open dashboard asks each minute,
    and the charts move by the hour (their fortnight comes from the rollups, docs/dashboard.md).
    Keyed by hours, days and the current UTC hour."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[tuple[int, int, str], tuple[float, dict[str, Any]]] = {}

    async def get(self, store: SnapshotSource, hours: int, days: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        key = (hours, days, now.strftime("%Y-%m-%dT%H"))
        hit = self._items.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        data = await run_in_threadpool(charts_data, store, hours, days, now)
        self._items = {k: v for k, v in self._items.items() if v[0] > time.monotonic()}
        self._items[key] = (time.monotonic() + self.ttl_s, data)
        return data


CHARTS_TTL_S = 15.0


def agents_data(store: SnapshotSource, since: str, until: str | None) -> dict[str, Any]:
    with store.snapshot() as snapshot:
        result = summary(snapshot, Filters(since=since, until=until), terms=False)
    return {
        "since": since,
        "until": until,
        "agents": [
            {
                "username": r["key"],
                "display_name": r["display_name"],
                "chats": r["conversations"],
                "first_response_p50_s": _stat(r, "first_response_s", "p50"),
                "first_response_p90_s": _stat(r, "first_response_s", "p90"),
                "handle_p50_s": _stat(r, "handle_s", "p50"),
                "handle_mean_s": _stat(r, "handle_s", "mean"),
                "rated": r["csat"]["rated"],
                "csat": r["csat"]["average"],
            }
            for r in result["by_agent"]
        ],
    }
