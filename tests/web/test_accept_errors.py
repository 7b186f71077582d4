"""Accept errors are logged once a second with a count, not once per attempt (the report: 1.2
million lines in 72 s); other loop errors go to asyncio's default handler as before."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chatserver.web.connections import AcceptErrorLog


async def test_out_of_descriptors_is_logged_once_a_second(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    handler = AcceptErrorLog(every_s=1.0, clock=lambda: now[0])
    loop = asyncio.get_running_loop()
    context = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(24, "EMFILE"),
    }
    with caplog.at_level(logging.ERROR, logger="chatserver.connections"):
        for _ in range(10_000):
            handler(loop, context)
        now[0] += 1.0  # a second later
        handler(loop, context)
    lines = [r for r in caplog.records if r.name == "chatserver.connections"]
    assert len(lines) == 2
    assert handler.total == 10_001
    assert lines[1].__dict__["errors"] == 10_000  # the ones since the first line, counted


async def test_other_loop_errors_go_to_the_default_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = AcceptErrorLog()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        handler(asyncio.get_running_loop(), {"message": "something else broke"})
    assert any("something else broke" in r.getMessage() for r in caplog.records)
    assert handler.total == 0
