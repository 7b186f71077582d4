"""The supervisor dashboard: its three pages and the JSON API they read (issue #5).

Who: supervisors, analysts and admins (`web.kit.STAFF_ROLES`). Nothing here changes
anything, so analysts, who may already read any transcript, get the read-only figures too.
Signed out, a page redirects to ``/login``; a plain agent gets a 403 page, and the API 401 or
403 JSON.

Pages (server-rendered from ``chatserver/web/assets/templates/dashboard*.html``):

- ``GET /dashboard`` — the live floor (polled every 1.5 s), the charts and the agent table.
- ``GET /dashboard/conversations`` — conversations by period, topic, agent, status and tag, a
  page at a time (keyset: each page links the next and previous by cursor). The form is a
  plain GET form: the list works without scripts.
- ``GET /dashboard/conversations/{id}`` — one conversation: transcript, notes, tags, rating and
  the router's explanation of each assignment.

API:

- ``GET /api/v1/dashboard/live`` — the floor now, from one router snapshot (Redis only).
- ``GET /api/v1/dashboard/bots`` — the conversations bots hold now, and of today's (UTC), the
  bot-resolved and the handed-over ones (the store's `DashboardQueries.bot_figures`).
- ``GET /api/v1/dashboard/charts?hours=24&days=14`` — per-hour series over the last ``hours``
  hours, CSAT per day over the last ``days`` days and per topic over the same days.
- ``GET /api/v1/dashboard/agents?since=&until=`` — per agent: chats, first response, handle
  time, CSAT (the summary's ``by_agent``).
- ``GET /api/v1/dashboard/conversations?since=&until=&topic=&agent=&status=&tag=&cursor=&per_page=``
  — one page, newest first, with ``next_cursor``/``prev_cursor`` (opaque; None at either end).

The figures come from `chatserver.analytics.figures` (``summary`` and ``series``), the code
behind ``chatserver report`` and ``GET /api/v1/analytics/summary``, over a `Snapshot` of the
store's file (``dashboard_figures.py``), run in a worker thread so the event loop never waits
on a scan; the conversation list is the store's `DashboardQueries`.
``docs/dashboard.md`` describes the pages and defines each figure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.analytics.errors import AnalyticsError, BadRequest
from chatserver.analytics.filters import parse_when
from chatserver.store import (
    AgentRecord,
    BadCursor,
    ConversationQuery,
    ConversationRecord,
    Filters,
    NotFoundError,
    PageCursor,
    Store,
    StoredEvent,
    iso_now,
)
from chatserver.web.api.components import row_json
from chatserver.web.dashboard_figures import (
    CHARTS_TTL_S,
    ChartCache,
    agents_data,
    floor,
)
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
    """What the conversation list shows: `Filters` plus a status and where the page starts
    (None: the first page)."""

    filters: Filters
    status: str | None
    cursor: PageCursor | None
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
    cursor = text("cursor")
    try:
        start = PageCursor.parse(cursor) if cursor is not None else None
    except BadCursor as exc:
        raise BadRequest(str(exc)) from None
    return ListQuery(
        filters, status, start, _int(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    )


# --- the live floor -----------------------------------------------------------------------


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


async def bots(request: Request) -> Response:
    """The bots' tiles: held now, and bot-resolved and handed over of today's arrivals."""
    await _api_caller(request)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = iso_now(midnight.timestamp())
    found = await ctx_of(request).store.bots_today(since)
    return JSONResponse(
        {
            "since": since,
            "held": found.held,
            "resolved": found.resolved,
            "handed_over": found.handed_over,
        },
        headers=_NO_STORE,
    )


# --- charts and the agent table -------------------------------------------------------------


async def charts(request: Request, cache: ChartCache) -> Response:
    await _api_caller(request)
    q = request.query_params
    hours = _int(q, "hours", 24, 1, MAX_HOURS)
    days = _int(q, "days", 14, 1, MAX_DAYS)
    data = await cache.get(ctx_of(request).store, hours, days)
    return JSONResponse(data, headers=_NO_STORE)


async def agent_table(request: Request) -> Response:
    await _api_caller(request)
    since, until = _period(request.query_params, "7d")
    data = await run_in_threadpool(agents_data, ctx_of(request).store, since, until)
    return JSONResponse(data, headers=_NO_STORE)


# --- the conversation list ------------------------------------------------------------------


async def conversation_list(store: Store, q: ListQuery) -> dict[str, Any]:
    """One page of the matching conversations, newest first, with the total and the cursors
    of the pages after (older) and before (newer) it."""
    f = q.filters
    try:
        found = await store.conversations_page(
            ConversationQuery(
                since=f.since,
                until=f.until,
                topic=f.topic,
                agent=f.agent,
                tag=f.tag,
                status=q.status,
                cursor=q.cursor,
                per_page=q.per_page,
            )
        )
    except NotFoundError as exc:  # an agent that names no account
        raise BadRequest(str(exc)) from None
    rows = [row_json(r) for r in found.rows]
    return {
        "total": found.total,
        "per_page": q.per_page,
        "next_cursor": found.older.token() if found.older else None,
        "prev_cursor": found.newer.token() if found.newer else None,
        "rows": rows,
    }


async def conversations_api(request: Request) -> Response:
    await _api_caller(request)
    ctx = ctx_of(request)
    q = list_query(request.query_params, tuple(ctx.routing_config.topics))
    data = await conversation_list(ctx.store, q)
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
        result = await conversation_list(ctx.store, q)
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
    """The dashboard's routes, to add to the hub's Starlette app; each call makes the charts'
    cache of the app it builds."""
    cache = ChartCache(CHARTS_TTL_S)

    async def charts_endpoint(request: Request) -> Response:
        return await charts(request, cache)

    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/conversations", conversations_page, methods=["GET"]),
        Route("/dashboard/conversations/{conversation_id}", conversation_page, methods=["GET"]),
        Route("/api/v1/dashboard/live", api(live), methods=["GET"]),
        Route("/api/v1/dashboard/bots", api(bots), methods=["GET"]),
        Route("/api/v1/dashboard/charts", api(charts_endpoint), methods=["GET"]),
        Route("/api/v1/dashboard/agents", api(agent_table), methods=["GET"]),
        Route("/api/v1/dashboard/conversations", api(conversations_api), methods=["GET"]),
    ]
