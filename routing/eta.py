"""The wait estimate (rule 8), the same formula the Lua scripts apply.

    eta_s = ceil(position × H / C)

* ``position`` — 1 for the next conversation of the topic's queue;
* ``H`` — mean of the topic's last 50 handle times (accept → release), in seconds, or
  ``handle_time_default_s`` while the topic has none;
* ``C`` — summed capacity of the online agents eligible for the conversation's topic and
  language at relaxation step 0. With ``C = 0`` there is no estimate (None).

Reasoning: C slots each free on average every H seconds, so one frees every H / C seconds and
the conversation at ``position`` is served after about ``position`` such frees. Computed exactly
(integer milliseconds, rational arithmetic) so the Lua and Python results agree to the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

HANDLE_TIMES_KEPT = 50


def estimate_wait(
    position: int, handle_times_ms: Sequence[int], capacity: int, default_handle_ms: int
) -> int | None:
    """eta_s for ``position`` given recent handle times (ms, newest first) and capacity C."""
    if capacity <= 0:
        return None
    recent = list(handle_times_ms[:HANDLE_TIMES_KEPT])
    total, n = (sum(recent), len(recent)) if recent else (default_handle_ms, 1)
    value = Fraction(position * total, n * capacity * 1000)
    return -(-value.numerator // value.denominator)


__all__ = ["HANDLE_TIMES_KEPT", "estimate_wait"]
