"""The tests' clock (tests.support.clock) moves what it says it moves: this process, the hub
and CLI processes a test starts, and the pages of its browser — and all of them agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from chatserver.clock import parse_ts
from tests.chatserver.integration.conftest import Hub, hub, hub_env
from tests.support.clock import SHIFTS
from tests.support.server import run_cli
from tests.support.stores import query

pytestmark = pytest.mark.clock_shifted
__all__ = ["hub", "hub_env"]  # fixtures of the integration tests


def stored(data_dir: Path, sql: str) -> str:
    value: str = query(data_dir, sql)[0][0]
    return value


async def test_every_process_reads_the_same_shifted_clock(
    clock: datetime | None, hub: Hub, browser: Browser, request: pytest.FixtureRequest
) -> None:
    shift = SHIFTS.get(request.node.callspec.params["clock"])
    if clock is None:
        assert shift is None
        assert abs(time.time() - datetime.now(UTC).timestamp()) < 1
    else:
        assert shift is not None
        assert abs(time.time() - clock.timestamp()) < 30  # the test started there
        assert time.tzname[0] in {"UTC", "CET"}
        if shift.tz == "Europe/Berlin":
            assert time.localtime(clock.timestamp()).tm_zone == "CEST"  # falls back within a minute
            assert time.localtime(clock.timestamp() + 120).tm_zone == "CET"

    # A CLI process: the agent it creates is stamped with the shifted now.
    cli = run_cli(
        hub.data_dir, "agents", "add", "ann", "--password-stdin", "--skills", "general:5,en:5",
        stdin="correct horse battery\n",
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    created = stored(hub.data_dir, "SELECT created_at FROM agents")
    assert abs(parse_ts(created) - time.time()) < 10

    # A hub process: its Date header and the conversation it stores.
    server = hub.start_server()
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{server.http}/readyz")
    assert abs(parsedate_to_datetime(answer.headers["date"]).timestamp() - time.time()) < 3
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    conv = queued["conversation_id"]
    created = stored(hub.data_dir, f"SELECT created_at FROM conversations WHERE id = '{conv}'")
    assert abs(parse_ts(created) - time.time()) < 3

    # A page: Date.now() in the browser.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.http}/readyz")
    assert abs(await page.evaluate("Date.now()") / 1000 - time.time()) < 3
    if shift is not None and shift.tz == "Europe/Berlin":
        zone = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert zone == "Europe/Berlin"
    await context.close()
