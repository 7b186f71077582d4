"""Periods relative to now (`--since 12h`, `since=1d`) and today's date, on the clock the
analyst's machine has — run at 23:30 UTC, at 00:30 UTC and across a DST night too
(`clock_shifted`). Three days of history end at the test's "now"; the expected counts come from
the generator's own description of what it wrote."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from chatserver.analytics.sample import SampleData, generate
from tests.analytics.test_server import login
from tests.chatserver.integration.conftest import add_agent
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, run_cli

pytestmark = pytest.mark.clock_shifted


@pytest.fixture
def recent(tmp_path: Path) -> SampleData:
    """400 conversations over the three days before now."""
    start = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(days=3)
    (tmp_path / "data").mkdir()
    return generate(
        tmp_path / "data" / "chat.db", conversations=400, days=3, start=start.isoformat()
    )


def arrived_since(sample: SampleData, seconds_ago: float) -> int:
    cutoff = (time.time() - seconds_ago) * 1000
    return sum(1 for c in sample.conversations if c.created_ms >= cutoff)


def report(data: Path, *args: str) -> int:
    done = run_cli(data, "report", "--json", "--no-terms", *args)
    assert done.returncode == 0, done.stderr
    conversations: int = json.loads(done.stdout)["totals"]["conversations"]
    return conversations


@pytest.mark.parametrize("span,seconds", [("12h", 12 * 3600), ("1d", 86_400), ("2d", 172_800)])
def test_a_span_before_now_counts_what_arrived_since(
    recent: SampleData, span: str, seconds: int
) -> None:
    # Arrivals are spread over the three days: the count moves only if one arrived in the
    # seconds the command took, so it lies between the counts before and after.
    most = arrived_since(recent, seconds)
    got = report(recent.path.parent, "--since", span)
    least = arrived_since(recent, seconds)
    assert least <= got <= most
    assert 0 < got < len(recent.conversations)


def test_since_today_is_since_midnight_utc(recent: SampleData) -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = sum(1 for c in recent.conversations if c.created_ms >= midnight.timestamp() * 1000)
    assert report(recent.path.parent, "--since", midnight.date().isoformat()) == today
    yesterday = (midnight - timedelta(days=1)).date().isoformat()
    before_today = report(
        recent.path.parent, "--since", yesterday, "--until", midnight.date().isoformat()
    )
    assert before_today == sum(
        1
        for c in recent.conversations
        if midnight.timestamp() * 1000 - 86_400_000 <= c.created_ms < midnight.timestamp() * 1000
    )


async def test_the_hubs_summary_reads_the_same_clock(
    recent: SampleData, redis_server: RedisServer
) -> None:
    data = recent.path.parent
    await add_agent(data, "ana", roles=("analyst",))
    server = ServerProcess(data, redis_server.url)
    server.start()
    try:
        token = await login(server.http, "ana")
        async with httpx.AsyncClient(base_url=server.http) as http:
            most = arrived_since(recent, 86_400)
            answer = await http.get(
                "/api/v1/analytics/summary",
                params={"since": "1d", "terms": "false"},
                headers={"Authorization": f"Bearer {token}"},
            )
            least = arrived_since(recent, 86_400)
        assert answer.status_code == 200, answer.text
        assert least <= answer.json()["totals"]["conversations"] <= most
    finally:
        server.stop()
