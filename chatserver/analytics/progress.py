"""A progress line on standard error, for exports run at a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``exporting  ████████░░░░  1,234/5,000 conversations · 56,789 messages · 98,765 msg/s``,
    redrawn at most every ``interval`` seconds; silent unless ``stream`` is a terminal."""

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 0.2,
        force: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or self.stream.isatty()
        self.total = total
        self.interval = interval
        self.started = time.perf_counter()
        self._last = 0.0

    def update(self, conversations: int, messages: int, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        share = conversations / self.total if self.total else 1.0
        filled = int(share * 24)
        bar = "█" * filled + "░" * (24 - filled)
        line = (
            f"\rexporting  {bar}  {conversations:,}/{self.total:,} conversations"
            f" · {messages:,} messages · {messages / elapsed:,.0f} msg/s"
        )
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()
