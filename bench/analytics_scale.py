"""Figures at a million conversations (issue #23): what the analytics and the dashboard cost
as the store grows, each figure beside one pass over the raw rows it comes from.

Stores: the analytics generator's realistic data (`chatserver.analytics.sample`: 90 days
up to the current hour, ~11.6 messages and ~16 events per conversation), 10k and 100k conversations
(``--quick``) and 1M too (full), generated once and cached (``bench/_analytics_stores.py``);
with PostgreSQL (a private cluster, the store copied in with `copy_from_sqlite`, then
``ANALYZE``) at 10k (``--quick``) or 10k and 100k (full). Should the tree have a
``chatserver analytics rebuild`` command, it runs on each store before anything is timed
(``rebuild_s``).

Only public entry points are timed, so the scenario measures whatever tree it runs on: the
HTTP API of a real ``chatserver serve`` process (signed in as an admin the bench adds to the
store) and the ``chatserver report --html`` command. Each size is measured in ``runs`` rounds
(3); each round starts a fresh hub (nothing cached: the dashboard's chart cache is per
process), and times, in this order, one request of each row of `ROWS`, then the report
command; the figure is the median of the rounds, in milliseconds. The OS page cache is warm
(the store was just copied or read): "uncached" means no cache of the application's.

Baseline, in every round too: one pass over the raw rows the figures come from —
``SELECT count(*), sum(length(body)) FROM events`` (all of them: ``raw_all``) and the same over
the events of the conversations that arrived in the last 7 or 14 days (``raw_7d``,
``raw_14d``) — with plain ``sqlite3``/psycopg. Each row's ``ratio`` is its time over the pass
over its own period's rows (`ROWS`' second field): what pre-computed facts and rollups make
fall. ``growth`` is each row's factor per 10× more conversations (today everything grows
linearly: ~10). ``figures_complete``: the whole-range summary counts as many conversations,
closed and rated ones as the raw rows hold (a guard for pre-computed figures).
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._analytics_stores import (
    ANALYST,
    RawRows,
    add_analyst,
    chatserver_command,
    cli_env,
    copy_store,
    generated,
    into_postgres,
    rebuild,
)
from bench._servers import HUB_ENV, load_average
from chatserver.store.dashboard import PageCursor
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

_LIST = "/api/v1/dashboard/conversations"
#: (row, the period of the raw rows it is compared with, the request). ``{agent}`` is filled
#: in per store; ``{oldest}`` is `OLDEST_PAGE`. The charts come first, on the fresh hub.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("charts_24h_14d", "14d", "/api/v1/dashboard/charts?hours=24&days=14"),
    ("summary_all", "all", "/api/v1/analytics/summary"),
    ("summary_all_no_terms", "all", "/api/v1/analytics/summary?terms=false"),
    ("summary_7d", "7d", "/api/v1/analytics/summary?since=7d"),
    ("agent_table_7d", "7d", "/api/v1/dashboard/agents"),
    ("list_first_page", "all", _LIST),
    ("list_last_page", "all", _LIST + "?cursor={oldest}"),
    ("list_by_agent", "all", _LIST + "?agent={agent}"),
    ("list_by_topic", "all", _LIST + "?topic=billing"),
    ("list_by_tag", "all", _LIST + "?tag=crash"),
    ("list_by_status", "all", _LIST + "?status=closed"),
    ("list_last_7d", "7d", _LIST + "?since=7d"),
)
#: The last page of the newest-first list (its oldest rows): the page "newer than the very
#: beginning" — the store walks the index upwards from the first row (keyset paging, no OFFSET).
OLDEST_PAGE = PageCursor("newer", "", 0).token()
REPORT = ("report_html", "all")
RAW_DAYS = {"all": None, "7d": 7, "14d": 14}
TARGET_MS = {
    "summary_all": 1000,
    "summary_7d": 200,
    "charts_24h_14d": 200,
    "agent_table_7d": 200,
    "list_*": 100,
    "report_html": 5000,
}


@dataclass(frozen=True, slots=True)
class Plan:
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    postgres_sizes: tuple[int, ...] = (10_000, 100_000)
    runs: int = 3
    days: int = 90


QUICK = Plan(sizes=(10_000, 100_000), postgres_sizes=(10_000,))
FULL = Plan()


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL)


# -- one store -------------------------------------------------------------------------------


class _Hub:
    """A fresh ``chatserver serve`` on the store, the analyst signed in."""

    def __init__(self, data_dir: Path, redis_url: str, url: str | None, password: str) -> None:
        env = {**HUB_ENV, **({"CHATSERVER_DATABASE_URL": url} if url else {})}
        self.server = ServerProcess(data_dir, redis_url, env=env, node_id="bench-analytics")
        started = time.perf_counter()
        self.server.start(timeout=180)
        self.start_s = time.perf_counter() - started
        self.client = httpx.Client(base_url=self.server.http, timeout=1800, trust_env=False)
        login = self.client.post(
            "/api/v1/auth/login", json={"username": ANALYST, "password": password}
        )
        login.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        self.get("/api/v1/dashboard/live")  # the request path warmed; no figure read

    def get(self, path: str) -> tuple[float, Any]:
        started = time.perf_counter()
        response = self.client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
        return elapsed, response.json()

    def stop(self) -> None:
        self.client.close()
        if self.server.proc is not None:
            self.server.proc.kill()
            self.server.proc.wait()
            self.server.proc = None
        self.server.stop()


def _report_ms(data_dir: Path, url: str | None, out: Path) -> float:
    started = time.perf_counter()
    done = chatserver_command(["report", "--html", str(out)], data_dir, url)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0 or out.stat().st_size == 0:
        raise RuntimeError(f"chatserver report --html failed:\n{done.stderr[-3000:]}")
    return elapsed


def _cli_start_ms() -> float:
    """A ``python -m chatserver --version``: the report command's start-up, for reading it."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chatserver", "--version"], check=True,
                   capture_output=True, env=cli_env(None))  # fmt: skip
    return round((time.perf_counter() - started) * 1000, 1)


def _measure_store(
    size: int, source: Path, work: Path, plan: Plan, redis_url: str, url: str | None
) -> dict[str, Any]:
    """Every row and the raw passes on one store, ``plan.runs`` rounds; medians in ms."""
    data_dir = work / f"{'pg' if url else 'sqlite'}-{size}"
    setup: dict[str, Any] = {"conversations": size, "loadavg_1m_before": load_average()}
    if url is None:
        setup["copy_s"] = copy_store(source, data_dir)
        raw = RawRows(data_dir / "chat.db", None)
    else:
        data_dir.mkdir(parents=True)
        setup["copy_s"] = into_postgres(source, url)
        raw = RawRows(None, url)
    setup["rebuild_s"] = rebuild(data_dir, url)
    password = add_analyst(url or f"sqlite:///{data_dir / 'chat.db'}")
    agent, totals, oldest = raw.an_agent(), raw.totals(), raw.oldest()
    times: dict[str, list[float]] = {}
    events = 0
    complete = True
    hub_start: list[float] = []
    for _ in range(plan.runs):
        for period, days in RAW_DAYS.items():
            ms, n = raw.timed(days)
            times.setdefault(f"raw_{period}", []).append(ms)
            events = n if days is None else events
        hub = _Hub(data_dir, redis_url, url, password)
        try:
            hub_start.append(hub.start_s)
            for name, _, path in ROWS:
                ms, body = hub.get(path.format(agent=agent, oldest=OLDEST_PAGE))
                times.setdefault(name, []).append(ms)
                if name == "summary_all":
                    t = body["totals"]
                    got = (t["conversations"], t["csat"]["rated"], t["closed"])
                    complete &= got == (totals["conversations"], totals["rated"], totals["closed"])
                if name == "list_last_page":
                    _check_oldest(body, oldest)
        finally:
            hub.stop()
        ms = _report_ms(data_dir, url, work / f"report-{size}.html")
        times.setdefault(REPORT[0], []).append(ms)
    medians = {k: round(statistics.median(v), 1) for k, v in times.items()}
    periods = dict((n, p) for n, p, _ in ROWS) | {REPORT[0]: REPORT[1]}
    ratios = {n: round(medians[n] / max(medians[f"raw_{p}"], 0.01), 2) for n, p in periods.items()}
    setup.update(events=events, rated=totals["rated"], figures_complete=complete,
                 hub_start_s=round(statistics.median(hub_start), 2))  # fmt: skip
    return {"setup": setup, "ms": medians, "ratio": ratios, "runs_ms": times}


def _check_oldest(body: dict[str, Any], oldest: str) -> None:
    """The last page is not empty and ends with the store's oldest conversation."""
    if not body["rows"]:
        raise RuntimeError(f"the last page of {body['total']} conversations is empty")
    if body["rows"][-1]["created_at"] != oldest:
        raise RuntimeError(
            f"the last page ends at {body['rows'][-1]['created_at']}, not at the oldest"
            f" conversation ({oldest})"
        )


# -- the whole -------------------------------------------------------------------------------


def _growth(per_size: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's factor per 10× more conversations, between consecutive sizes."""
    steps = []
    for small, big in itertools.pairwise(per_size):
        scale = math.log10(big["setup"]["conversations"] / small["setup"]["conversations"])
        step: dict[str, Any] = {
            "from": small["setup"]["conversations"], "to": big["setup"]["conversations"]
        }  # fmt: skip
        for name, ms in big["ms"].items():
            before = small["ms"][name]
            step[name] = round((ms / before) ** (1 / scale), 2) if before > 0 else None
        steps.append(step)
    return steps


def _parts(label: str, measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-size tables of one backend, each part with the largest size's figures on top
    (what `bench._report` prints) and a ``per_size`` list."""
    largest = measured[-1]
    size = largest["setup"]["conversations"]
    ms_rows = [{**m["setup"], **{f"{k}_ms": v for k, v in m["ms"].items()}} for m in measured]
    ratio_rows = [{"conversations": m["setup"]["conversations"], **m["ratio"]} for m in measured]
    growth = _growth(measured)
    parts = {
        f"{label}_ms": {"conversations": size, **ms_rows[-1], "per_size": ms_rows},
        f"{label}_ratio": {"conversations": size, **largest["ratio"], "per_size": ratio_rows},
    }
    if growth:
        parts[f"{label}_growth_per_10x"] = {**growth[-1], "per_size": growth}
    parts[f"{label}_runs_ms"] = {str(m["setup"]["conversations"]): m["runs_ms"] for m in measured}
    return parts


def _targets(largest: dict[str, Any], complete: bool) -> dict[str, bool]:
    size = largest["setup"]["conversations"]
    ms = largest["ms"]
    out: dict[str, bool] = {}
    for name, limit in TARGET_MS.items():
        if name == "list_*":
            worst = max(v for k, v in ms.items() if k.startswith("list_"))
            out[f"every_list_query<={limit}ms@{size}"] = worst <= limit
        else:
            out[f"{name}<={limit}ms@{size}"] = ms[name] <= limit
    out["figures_complete"] = complete
    return out


def measure(plan: Plan) -> dict[str, Any]:
    loads = {"start": load_average()}
    sources = {}
    generate_s = {}
    for size in sorted(set(plan.sizes) | set(plan.postgres_sizes)):
        made = generated(size, plan.days)
        sources[size], generate_s[str(size)] = made.path, made.generate_s
        print(f"[analytics_scale] store of {size}: {made.path} "
              f"({'cached' if made.generate_s is None else f'{made.generate_s} s'})",
              file=sys.stderr, flush=True)  # fmt: skip
    sqlite: list[dict[str, Any]] = []
    postgres: list[dict[str, Any]] = []
    redis = RedisServer()
    redis.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-analytics-") as folder:
            work = Path(folder)
            for size in plan.sizes:
                loads[f"sqlite_{size}"] = load_average()
                sqlite.append(_measure_store(size, sources[size], work, plan, redis.url, None))
                (work / f"sqlite-{size}" / "chat.db").unlink()  # a million: 5 GB
                _say("sqlite", sqlite[-1])
            if plan.postgres_sizes:
                with PostgresServer() as server:
                    for size in plan.postgres_sizes:
                        loads[f"postgresql_{size}"] = load_average()
                        url = server.create_database(f"bench_analytics_{size}")
                        postgres.append(
                            _measure_store(size, sources[size], work, plan, redis.url, url)
                        )
                        _say("postgresql", postgres[-1])
    finally:
        redis.stop()
    largest = sqlite[-1]
    complete = all(m["setup"]["figures_complete"] for m in sqlite + postgres)
    base_ms = {k: v for k, v in largest["ms"].items() if k.startswith("raw_")}
    result: dict[str, Any] = {
        "conversations": largest["setup"]["conversations"],
        "events": largest["setup"]["events"],
        **{f"{k}_ms": v for k, v in largest["ms"].items() if not k.startswith("raw_")},
        "baseline": {
            "what": "one pass over the raw rows: count(*), sum(length(body)) of events"
            " (all; of the conversations of the last 7 / 14 days)",
            **{f"{k}_ms": v for k, v in base_ms.items()},
        },
        "ratio": largest["ratio"]["summary_all"],
        "ratio_of": "whole-range summary (with terms) / one pass over every event, largest size",
        "targets": _targets(largest, complete),
        "cli_start_ms": _cli_start_ms(),
        "generate_s": generate_s,
        "loadavg_1m_before": loads,
        "cpus": os.cpu_count(),
        "postgresql": "measured at " + ", ".join(map(str, plan.postgres_sizes))
        if plan.postgres_sizes
        else "not measured",
        "plan": asdict(plan),
        **_parts("sqlite", sqlite),
    }
    if postgres:
        result.update(_parts("postgresql", postgres))
    return result


def _say(label: str, measured: dict[str, Any]) -> None:
    size = measured["setup"]["conversations"]
    line = ", ".join(f"{k} {v:,.0f}" for k, v in measured["ms"].items())
    print(f"[analytics_scale] {label} {size}: {line} (ms); {measured['setup']}",
          file=sys.stderr, flush=True)  # fmt: skip
