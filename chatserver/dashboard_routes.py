"""The supervisor dashboard: its three pages and the JSON API they read (issue #5).

Who: supervisors, analysts and admins (`web.kit.STAFF_ROLES`). Nothing here changes
anything, so analysts, who may already read any transcript, get the read-only figures too.
Signed out, a page redirects to ``/login``; a plain agent gets a 403 page, and the API 401 or
403 JSON.

Pages (server-rendered from ``chatserver/web/assets/templates/dashboard*.html``):

- ``GET /dashboard`` — the live floor (polled every 1.5 s), the charts and the agent table.
- ``GET /dashboard/conversations`` — conversations by period, topic, agent, status and tag, a
  page at a time. The form is a plain GET form: the list works without scripts.
- ``GET /dashboard/conversations/{id}`` — one conversation: transcript, notes, tags, rating and
  the router's explanation of each assignment.

API:

- ``GET /api/v1/dashboard/live`` — the floor now, from one router snapshot (Redis only).
- ``GET /api/v1/dashboard/charts?hours=24&days=14`` — per-hour series over the last ``hours``
  hours, CSAT per day over the last ``days`` days and per topic over the same days.
- ``GET /api/v1/dashboard/agents?since=&until=`` — per agent: chats, first response, handle
  time, CSAT (the summary's ``by_agent``).
- ``GET /api/v1/dashboard/conversations?since=&until=&topic=&agent=&status=&tag=&page=&per_page=``

The figures come from `chatserver.analytics.figures` (``summary`` and ``series``), the code
behind ``chatserver report`` and ``GET /api/v1/analytics/summary``, over a `Snapshot` of the
SQLite file, run in a worker thread so the event loop never waits on a scan.
``docs/dashboard.md`` describes the pages and defines each figure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.analytics.errors import AnalyticsError, BadRequest, Unsupported
from chatserver.analytics.figures import Group, buckets, series, summary
from chatserver.analytics.filters import Filters, parse_when
from chatserver.analytics.source import Snapshot
from chatserver.store.base import AgentRecord, ConversationRecord, StoredEvent, iso_now
from chatserver.store.sqlite import SQLiteStore
from chatserver.web.kit import (
    Refused,
    api,
    ctx_of,
    error,
    event_json,
    is_staff,
    page,
    signed_in,
)

__all__ = ["LIVE_POLL_MS", "routes"]

log = logging.getLogger("chatserver")

LIVE_POLL_MS = 1500
STATUSES = ("queued", "offered", "active", "closed")
MAX_HOURS = 168
MAX_DAYS = 90
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
_NO_STORE = {"Cache-Control": "no-store"}
_STATUS_ORDER = {"online": 0, "away": 1, "offline": 2}


# --- access -------------------------------------------------------------------------------


async def _api_caller(request: Request) -> AgentRecord:
    agent = await signed_in(request)
    if agent is None:
        raise Refused(error(401, "unauthorized", "sign in first (Authorization: Bearer <token>)"))
    if not is_staff(agent):
        raise Refused(
            error(403, "forbidden", "the dashboard is for supervisors, analysts and admins")
        )
    return agent


async def _page_caller(request: Request) -> AgentRecord | Response:
    """The staff member viewing a page, or the response to send instead."""
    agent = await signed_in(request)
    if agent is None:
        return RedirectResponse("/login", status_code=303, headers=_NO_STORE)
    if not is_staff(agent):
        denied = page("dashboard_forbidden.html", agent=agent)
        denied.status_code = 403
        return denied
    return agent


def _sqlite_path(request: Request) -> Path:
    store = ctx_of(request).store
    if not isinstance(store, SQLiteStore):
        raise Unsupported(
            "the dashboard's figures read the SQLite transcript store; this hub uses another"
        )
    return store.path


# --- parameters ---------------------------------------------------------------------------


def _int(query: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r}: expected a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}={value}: must be from {low} to {high}")
    return value


def _period(query: QueryParams, default_since: str) -> tuple[str, str | None]:
    """(since, until) from ``since``/``until`` (dates, ISO times or spans such as 7d)."""
    since = parse_when(query.get("since") or default_since, "since")
    raw_until = query.get("until")
    until = parse_when(raw_until, "until") if raw_until else None
    if until is not None and until <= since:
        raise BadRequest(f"until ({until}) must be after since ({since})")
    return since, until


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What the conversation list shows: `Filters` plus a status and a page."""

    filters: Filters
    status: str | None
    page: int
    per_page: int

    def form(self) -> dict[str, str]:
        f = self.filters
        return {
            "since": f.since or "",
            "until": f.until or "",
            "topic": f.topic or "",
            "agent": f.agent or "",
            "status": self.status or "",
            "tag": f.tag or "",
        }


def list_query(query: QueryParams, topics: tuple[str, ...]) -> ListQuery:
    def text(name: str) -> str | None:
        value = (query.get(name) or "").strip()
        return value or None

    since, until = text("since"), text("until")
    filters = Filters(
        since=parse_when(since, "since") if since else None,
        until=parse_when(until, "until") if until else None,
        topic=text("topic"),
        agent=text("agent"),
        tag=text("tag"),
    )
    if filters.since and filters.until and filters.until <= filters.since:
        raise BadRequest(f"until ({filters.until}) must be after since ({filters.since})")
    if filters.topic is not None and filters.topic not in topics:
        raise BadRequest(f"topic {filters.topic!r} is not offered; allowed: {', '.join(topics)}")
    status = text("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    return ListQuery(
        filters,
        status,
        _int(query, "page", 1, 1, 1_000_000),
        _int(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
    )


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


#: The longest-waiting queued conversations the live floor lists (all are counted).
LIVE_WAITING_ROWS = 200


async def live(request: Request) -> Response:
    await _api_caller(request)
    ctx = ctx_of(request)
    now = time.time()
    try:
        snap = await ctx.router.live_floor(
            now, limit=LIVE_WAITING_ROWS, sla_wait_s=ctx.settings.sla_wait_s
        )
    except (RedisError, OSError) as exc:
        log.warning("dashboard: no router snapshot", extra={"error": repr(exc)})
        return error(503, "unavailable", "the live state (Redis) is not answering; try again")
    agents = {a.id: a for a in await ctx.store.list_agents()}
    data = floor(
        snap,
        tuple(ctx.routing_config.topics),
        agents,
        now_ms=round(now * 1000),
        sla_wait_s=ctx.settings.sla_wait_s,
    )
    return JSONResponse(data, headers=_NO_STORE)


# --- charts and the agent table -------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _stat(figures: dict[str, Any], name: str, key: str) -> float | None:
    value: float | None = figures[name][key]
    return value


def charts_data(path: Path, hours: int, days: int, now: datetime) -> dict[str, Any]:
    """The charts' series: the last ``hours`` hours up to the end of the current hour, and
    the last ``days`` days up to the end of today (UTC). Two scans: `series` for the hours,
    `summary` for the days (its ``by_day``, with the days it lacks filled in, and
    ``by_topic``)."""
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    by_hours = Filters(since=_stamp(hour_end - timedelta(hours=hours)), until=_stamp(hour_end))
    by_days = Filters(since=_stamp(day_end - timedelta(days=days)), until=_stamp(day_end))
    with Snapshot(path) as snapshot:
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


class _ChartCache:
    """The charts of the last few seconds, shared by every dashboard this process serves: a
    fortnight of a busy hub is seconds of scanning (docs/dashboard.md), and the charts move by
    the hour. Keyed by store, hours, days and the current UTC hour."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[tuple[str, int, int, str], tuple[float, dict[str, Any]]] = {}

    async def get(self, path: Path, hours: int, days: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        key = (str(path), hours, days, now.strftime("%Y-%m-%dT%H"))
        hit = self._items.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        data = await run_in_threadpool(charts_data, path, hours, days, now)
        self._items = {k: v for k, v in self._items.items() if v[0] > time.monotonic()}
        self._items[key] = (time.monotonic() + self.ttl_s, data)
        return data


CHARTS_TTL_S = 15.0
_charts = _ChartCache(CHARTS_TTL_S)


async def charts(request: Request) -> Response:
    await _api_caller(request)
    q = request.query_params
    hours = _int(q, "hours", 24, 1, MAX_HOURS)
    days = _int(q, "days", 14, 1, MAX_DAYS)
    path = _sqlite_path(request)
    data = await _charts.get(path, hours, days)
    return JSONResponse(data, headers=_NO_STORE)


def agents_data(path: Path, since: str, until: str | None) -> dict[str, Any]:
    with Snapshot(path) as snapshot:
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


async def agent_table(request: Request) -> Response:
    await _api_caller(request)
    since, until = _period(request.query_params, "7d")
    data = await run_in_threadpool(agents_data, _sqlite_path(request), since, until)
    return JSONResponse(data, headers=_NO_STORE)


# --- the conversation list ------------------------------------------------------------------


def conversation_list(path: Path, q: ListQuery) -> dict[str, Any]:
    """One page of the matching conversations, newest first, with the total."""
    with Snapshot(path) as snapshot:
        where, params = snapshot.where(q.filters)
        if q.status is not None:
            where += (" AND " if where else " WHERE ") + "c.status = ?"
            params = [*params, q.status]
        conn = snapshot.conn
        total = int(
            conn.execute(f"SELECT count(*) FROM conversations c{where}", params).fetchone()[0]
        )
        agents = snapshot.agents()
        rows = conn.execute(
            "SELECT c.id, c.created_at, c.closed_at, c.topic, c.language, c.status, c.rating,"
            " c.tags, c.last_agent_id, v.name,"
            " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
            "  AND e.kind = 'message')"
            f" FROM conversations c LEFT JOIN visitors v ON v.id = c.visitor_id{where}"
            " ORDER BY c.created_at DESC, c.rowid DESC LIMIT ? OFFSET ?",
            [*params, q.per_page, (q.page - 1) * q.per_page],
        ).fetchall()
    out = []
    for cid, created, closed, topic, language, status, rating, tags, last_agent, name, n in rows:
        agent = agents.get(last_agent) if last_agent else None
        out.append(
            {
                "conversation_id": cid,
                "created_at": created,
                "closed_at": closed,
                "topic": topic,
                "language": language,
                "status": status,
                "rating": rating,
                "tags": orjson.loads(tags),
                "agent": agent.display_name if agent else None,
                "visitor_name": name,
                "messages": n,
            }
        )
    pages = max(1, -(-total // q.per_page))
    return {"total": total, "page": q.page, "per_page": q.per_page, "pages": pages, "rows": out}


async def conversations_api(request: Request) -> Response:
    await _api_caller(request)
    q = list_query(request.query_params, tuple(ctx_of(request).routing_config.topics))
    data = await run_in_threadpool(conversation_list, _sqlite_path(request), q)
    return JSONResponse({"filters": q.form(), **data}, headers=_NO_STORE)


# --- pages --------------------------------------------------------------------------------


async def dashboard_page(request: Request) -> Response:
    caller = await _page_caller(request)
    if isinstance(caller, Response):
        return caller
    ctx = ctx_of(request)
    return page(
        "dashboard.html",
        agent=caller,
        active="dashboard",
        topics=list(ctx.routing_config.topics),
        sla_wait_s=ctx.settings.sla_wait_s,
        poll_ms=LIVE_POLL_MS,
    )


async def conversations_page(request: Request) -> Response:
    caller = await _page_caller(request)
    if isinstance(caller, Response):
        return caller
    ctx = ctx_of(request)
    topics = tuple(ctx.routing_config.topics)
    form = {k: (request.query_params.get(k) or "").strip() for k in
            ("since", "until", "topic", "agent", "status", "tag")}  # fmt: skip
    problem = None
    result: dict[str, Any] | None = None
    try:
        q = list_query(request.query_params, topics)
        result = await run_in_threadpool(conversation_list, _sqlite_path(request), q)
    except AnalyticsError as exc:
        problem = str(exc)
    agents = sorted(
        (a for a in await ctx.store.list_agents() if "agent" in a.roles),
        key=lambda a: a.display_name.lower(),
    )
    response = page(
        "dashboard_conversations.html",
        agent=caller,
        active="conversations",
        topics=topics,
        statuses=STATUSES,
        agents=agents,
        form=form,
        problem=problem,
        result=result,
        query={k: v for k, v in form.items() if v},
    )
    if problem is not None:
        response.status_code = 400
    return response


def _transcript(events: list[StoredEvent]) -> list[dict[str, Any]]:
    return [event_json(e) for e in events]


EXCLUSION_LABELS = {  # docs/routing.md, "Explanation records": excluded
    "not_online": "away or offline",
    "below_level": "below the skill level",
    "avoided": "avoided",
    "preferred_first": "behind the preferred agent",
    "full": "at capacity",
    "cooling_down": "cooling down (declined or missed it)",
}


def decision_view(explanation: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A stored decision record (docs/routing.md, "Explanation records") with agent names."""
    candidates = []
    for c in explanation.get("candidates") or []:
        candidates.append(
            {
                **c,
                "name": names.get(c.get("agent_id", ""), c.get("agent_id")),
                "winner": c.get("agent_id") == explanation.get("winner"),
            }
        )
    required = explanation.get("required") or {}
    winner = explanation.get("winner")
    return {
        "kind": explanation.get("kind"),
        "step": explanation.get("step"),
        "required": [{"skill": k, "level": v} for k, v in sorted(required.items())],
        "winner": names.get(winner, winner) if winner else None,
        "preferred": names.get(explanation.get("preferred") or "", explanation.get("preferred")),
        "candidates": candidates,
        "candidates_total": explanation.get("candidates_total", len(candidates)),
        "shown": len(candidates),
        "eligible": explanation.get("eligible"),
        "excluded": [
            {"reason": EXCLUSION_LABELS.get(reason, reason), "count": count}
            for reason, count in (explanation.get("excluded") or {}).items()
            if isinstance(count, int) and count > 0
        ],
    }


async def conversation_page(request: Request) -> Response:
    caller = await _page_caller(request)
    if isinstance(caller, Response):
        return caller
    ctx = ctx_of(request)
    conv_id = request.path_params["conversation_id"]
    conv: ConversationRecord | None = await ctx.store.get_conversation(conv_id)
    if conv is None:
        missing = page("dashboard_conversation.html", agent=caller, active="conversations",
                       conv=None, conv_id=conv_id)  # fmt: skip
        missing.status_code = 404
        return missing
    events = await ctx.store.events(conv.id)
    accounts = await ctx.store.list_agents()
    names = {a.id: a.display_name for a in accounts}
    decisions = [
        {"ts": d.ts, **decision_view(d.explanation, names)}
        for d in await ctx.store.decisions(conv.id)
    ]
    visitor = await ctx.store.get_visitor(conv.visitor_id)
    return page(
        "dashboard_conversation.html",
        agent=caller,
        active="conversations",
        conv=conv,
        conv_id=conv.id,
        visitor=visitor,
        events=_transcript(events),
        notes=[event_json(e) for e in events if e.kind == "note"],
        decisions=decisions,
        holder=names.get(conv.agent_id or conv.last_agent_id or ""),
        by_username={a.username: a.display_name for a in accounts},
    )


def routes() -> list[BaseRoute]:
    """The dashboard's routes, to add to the hub's Starlette app."""
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/conversations", conversations_page, methods=["GET"]),
        Route("/dashboard/conversations/{conversation_id}", conversation_page, methods=["GET"]),
        Route("/api/v1/dashboard/live", api(live), methods=["GET"]),
        Route("/api/v1/dashboard/charts", api(charts), methods=["GET"]),
        Route("/api/v1/dashboard/agents", api(agent_table), methods=["GET"]),
        Route("/api/v1/dashboard/conversations", api(conversations_api), methods=["GET"]),
    ]
