"""`Probe`: /readyz answers within its timeout whatever a dependency does, and never has more
than one check of it in flight."""

from __future__ import annotations

import asyncio
import gc

import pytest

from chatserver.probes import Probe


async def test_a_check_that_hangs_is_answered_in_time_and_not_started_again() -> None:
    started = 0
    release = asyncio.Event()

    async def check() -> None:
        nonlocal started
        started += 1
        await release.wait()

    probe = Probe(check, timeout=0.05)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    assert await probe() == "error: no answer in 0.05 s"
    assert await probe() == "error: no answer in 0.05 s"
    assert loop.time() - begun < 1
    assert started == 1  # the second caller waited on the first check, not cancelled it
    release.set()
    assert await probe() == "ok"  # the same check, now answered
    assert started == 1
    assert await probe() == "ok"  # a new one once the last is done
    assert started == 2


async def test_a_failure_is_named_and_a_late_failure_is_not_left_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ConnectionError("db.internal:5432 refused")

    assert await Probe(broken)() == "error: ConnectionError('db.internal:5432 refused')"

    gate = asyncio.Event()

    async def slow_then_broken() -> None:
        await gate.wait()
        raise ConnectionError("late")

    probe = Probe(slow_then_broken, timeout=0.01)
    assert (await probe()).startswith("error: no answer")
    gate.set()
    await asyncio.sleep(0)  # the check fails with nobody waiting for it
    await asyncio.sleep(0)
    del probe
    gc.collect()
    assert "never retrieved" not in caplog.text
