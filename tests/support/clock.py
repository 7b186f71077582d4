"""The tests' clock: "now" moved to the hours where date arithmetic breaks, in the test process
and in every hub or CLI process a test starts.

A test (or a whole module) marked ``@pytest.mark.clock_shifted`` runs four times: on the real
clock, then with the clock at 23:30 UTC and at 00:30 UTC today, and on the night Europe/Berlin
leaves summer time (the clock starts at 00:59 UTC on 2026-10-25, a minute before local time
falls back from 03:00 CEST to 02:00 CET, with ``TZ=Europe/Berlin``). The shift is an offset from
the real clock, fixed when the test starts and handed to the processes it starts, so they all
agree to the millisecond and time keeps running. `time-machine` moves ``time.time()``,
``datetime.now()`` and their relatives; ``time.monotonic()`` (timeouts, asyncio) is left alone.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

OFFSET_VARIABLE = "TESTS_CLOCK_OFFSET_S"
TZ_VARIABLE = "TESTS_CLOCK_TZ"
LAUNCHER = Path(__file__).resolve().parent / "clocked.py"


@dataclass(frozen=True)
class Shift:
    id: str
    tz: str
    destination: Callable[[datetime], datetime]  # real now (UTC) -> the shifted now (UTC)


def _today_at(hour: int, minute: int) -> Callable[[datetime], datetime]:
    return lambda real: real.replace(hour=hour, minute=minute, second=0, microsecond=0)


SHIFTS: dict[str, Shift] = {
    shift.id: shift
    for shift in (
        Shift("utc-23h30", "UTC", _today_at(23, 30)),
        Shift("utc-00h30", "UTC", _today_at(0, 30)),
        Shift(
            "berlin-dst-end", "Europe/Berlin", lambda _: datetime(2026, 10, 25, 0, 59, tzinfo=UTC)
        ),
    )
}
REAL = "real-clock"


@contextmanager
def shifted(shift: Shift) -> Iterator[datetime]:
    """Move this process's clock (and, through the environment, that of the processes started
    meanwhile with `python_command`); yields the shifted "now" at the start."""
    destination = shift.destination(datetime.now(UTC))
    offset = destination.timestamp() - time.time()
    saved = {k: os.environ.get(k) for k in (OFFSET_VARIABLE, TZ_VARIABLE)}
    os.environ[OFFSET_VARIABLE] = repr(offset)
    os.environ[TZ_VARIABLE] = shift.tz
    try:
        with time_machine.travel(destination.astimezone(ZoneInfo(shift.tz)), tick=True):
            yield destination
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def python_command(module: str) -> list[str]:
    """`python -m module`, through the clock launcher while a shift is on."""
    if OFFSET_VARIABLE in os.environ:
        return [sys.executable, "-P", str(LAUNCHER), module]  # -P: not tests/support on sys.path
    return [sys.executable, "-m", module]


def browser_now_ms() -> int | None:
    """The shifted now for a browser's clock (`page.clock.install`), or None on the real one."""
    return round(time.time() * 1000) if OFFSET_VARIABLE in os.environ else None
