"""Routing at scale: how the router's cost grows with the agents online and with the queue.

Everything goes through the public ``routing.Router`` API (single calls and ``Router.batch()``
pipelines); nothing reads the router's keys or scripts, so the scenario runs unchanged on any
design behind that API. Each measurement but the last gets a private redis-server
(tests.support.redis_server.RedisServer), flushed and rebuilt for every size, with the shipped
default configuration and a synthetic clock: ``now`` starts at a fixed time and is moved on by
1 ms per round trip, never far enough for an offer to expire or a relaxation step to come due.

Server-side cost (``*_us``): Redis's own time inside the router's scripts per call —
the ``usec`` delta of ``INFO commandstats`` over the script commands (``evalsha``, and
``eval``/``fcall`` should a design use them), read before and after each pipelined batch of
one kind of call and divided by the calls of that kind (``calls`` per size; the batches of one
kind only). Round trips and the Python client are not in it.

1. **floor** — N agents online (``general``: 3, ``en``: 3, capacity 3), nothing waiting, every
   agent eligible, N in ``floor_sizes``. Rounds of min(N, 100) cycles: a batch of ``request``
   (each offered at once, so each decision weighs N candidates), a batch of their ``accept``,
   a batch of their ``release``, after one unmeasured warm-up round. Figures per size:
   ``request_us``, ``accept_us``, ``release_us``; ratio = largest N / N = 10 (target ≤ 2×).
2. **backlog** — 10 agents of capacity 1, each holding an accepted chat, and N conversations
   waiting (enqueued in pipelined batches of 500 — setup, not measured), N in
   ``backlog_sizes``. Measured, in rounds until ``calls`` of each: 10 more arrivals (``request``,
   each queued at the back), then the 10 agents' ``release`` (each frees a slot, so the head of
   the queue is offered: the call returns that offer), then the 10 ``accept`` of those offers —
   the backlog goes from N to N + 10 and back each round; then ``calls`` ``tick`` with nothing
   due. Ratio = largest N / N = 0 (target ≤ 2×).
3. **enqueue** — 1,000 agents of capacity 1, all holding an accepted chat; ``enqueue_total``
   arrivals enqueued in pipelined batches of 500; wall seconds. Target ≤ 10 s for 50,000,
   scaled in proportion for a smaller run (``target_s`` says which).
4. **draining** — ``drain_agents`` agents of capacity 3 start ``away`` while ``drain_waiting``
   conversations are enqueued (setup); then the clock starts: every agent goes ``online``
   (pipelined), and ``TASKS`` asyncio tasks drain the queue through the offers the calls
   return — each takes up to ``BATCH`` open offers, accepts them in one pipelined batch,
   releases those chats in the next, and hands the offers the releases made to the pool.
   ``assignments_per_s`` = accepts / seconds from the first ``online`` to the last accept,
   once the queue is empty (target ≥ 2,000/s).
5. **slowlog** — at the start of every measured phase above, on its Redis: ``CONFIG SET
   slowlog-log-slower-than 5000`` (5 ms), ``SLOWLOG RESET``; after it, ``SLOWLOG LEN`` (the
   count) and the slowest entries of ``SLOWLOG GET 128`` (command name, µs) — reported with the
   phase as ``slowlog``. The deliberate bulk loads (the backlog's and the drain's enqueue, and
   part 3, which is nothing but one) are logged the same way but reported apart as
   ``setup_slowlog``. Target: no entry in any measured phase.
6. **surge** — relay latency through a real hub while a surge is routed on the hub's own
   Redis. A hub process and its load generator exactly as in bench/relay.py (its
   ``_hub_target``: 1,000 conversations, 25 agents, ``rate`` messages/s of ~150 bytes, open
   loop); after a warm-up, one fixed-rate step with nothing else going on (the baseline), then
   one of the same length during which another thread drives a surge with its own ``Router``
   on the hub's Redis URL and key prefix (``_servers.HUB_ENV``; the hub builds its router from
   the same settings, with the shipped configuration): ``surge_agents`` agents
   ``surge-agent-<i>`` (topic ``account``, which no hub agent has, so the hub's agents are never
   offered a surge conversation) on node ``surge-bench``, set ``away``; ``surge_visitors``
   arrivals enqueued; the agents brought online and the queue drained as in part 4; again from
   the top until the step ends. This part runs on the wall clock (the hub ticks with it, and
   would expire the surge's offers and declare its node dead on any other), and the surge's
   node sends a heartbeat every second. Figures: ``e2e_p99_ms`` with and without the surge,
   ratio = surge / no surge.

Time caps: each enqueue and each drain stops at ``cap_s`` (the backlog's enqueues of all sizes
share one), ``capped`` true, the size it got to and the seconds it took reported; its figures are
taken at the size reached, the larger sizes are skipped, and its target is not met — so a router
whose cost grows with the queue finishes the run instead of running for hours. A pipelined
batch that took over a second halves the next (down to 50 calls), so a cap is not overshot by
much. The machine's 1-minute load average at each part's start is reported
(``loadavg_1m_before``): on a shared machine, read the figures with it.

``baseline`` holds the smallest sizes (10 agents, 0 waiting) and the relay without a surge;
``ratio`` is the worst growth factor of a per-call cost in parts 1 and 2 (``ratio_of``).

The parts live beside this driver: 1 and 2 in ``bench/_scale_calls.py``, 3 and 4 in
``bench/_scale_queue.py``, 6 in ``bench/_scale_surge.py``; the plan and the tools they share
(clock, deadlines, script meter, slow log, router set-up) in ``bench/_scale_tools.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from bench import relay
from bench._scale_calls import _backlog, _floor
from bench._scale_queue import _draining, _enqueue_part
from bench._scale_surge import _surge_part
from bench._scale_tools import Plan, _say
from bench._servers import load_average

TARGET_RATIO = 2.0
TARGET_ASSIGNMENTS_PER_S = 2_000


QUICK = Plan(
    floor_sizes=(10, 100, 1_000),
    backlog_sizes=(0, 1_000, 5_000),
    calls=200,
    enqueue_total=5_000,
    drain_agents=200,
    drain_waiting=4_000,
    cap_s=30.0,
    surge_visitors=2_000,
    surge_step_s=10.0,
)
FULL = Plan()


def run(quick: bool) -> dict[str, Any]:
    """Start the private Redis servers and the hub, measure, return the figures (see above)."""
    return measure(QUICK if quick else FULL)


# -- the whole -------------------------------------------------------------------------------


def measure(plan: Plan) -> dict[str, Any]:
    load = {"floor": load_average()}
    floor = asyncio.run(_floor(plan))
    load["backlog"] = load_average()
    backlog = asyncio.run(_backlog(plan))
    load["enqueue"] = load_average()
    enqueue = asyncio.run(_enqueue_part(plan))
    _say("enqueue", enqueue)
    load["draining"] = load_average()
    draining = asyncio.run(_draining(plan))
    _say("draining", draining)
    surge = None
    if plan.surge:
        load["surge"] = load_average()
        surge = _surge_part(plan)
        _say("surge", surge)

    measured = [s["slowlog"] for s in floor["per_size"] + backlog["per_size"]]
    measured.append(draining["slowlog"])
    setup_slowlog = {
        "backlog": [{"waiting": s["waiting"], **s["setup_slowlog"]} for s in backlog["per_size"]],
        "enqueue": enqueue["setup_slowlog"],
        "draining": draining["setup_slowlog"],
    }
    slow_count = sum(s["count"] for s in measured)
    slowest = sorted((e for s in measured for e in s["slowest"]), key=lambda e: -e["us"])[:5]
    ratios = [r for r in (floor["worst_ratio"], backlog["worst_ratio"]) if r is not None]
    largest_floor, largest_backlog = floor["agents_largest"], backlog["waiting_largest"]
    drained_ok = not draining["capped"] and not draining["enqueue_capped"]
    rate = draining["assignments_per_s"] or 0
    figures: dict[str, Any] = {
        "floor_agents": largest_floor,
        "floor_request_us": floor["request_us_largest"],
        "floor_accept_us": floor["accept_us_largest"],
        "floor_release_us": floor["release_us_largest"],
        "backlog_waiting": largest_backlog,
        "backlog_request_us": backlog["request_us_largest"],
        "backlog_release_us": backlog["release_us_largest"],
        "backlog_accept_us": backlog["accept_us_largest"],
        "backlog_tick_us": backlog["tick_us_largest"],
        "backlog_capped": backlog["capped"],
        "enqueue_arrivals": enqueue["reached"],
        "enqueue_s": enqueue["enqueue_s"],
        "enqueue_capped": enqueue["capped"],
        "drain_waiting": draining["waiting"],
        "drain_accepted": draining["accepted"],
        "assignments_per_s": draining["assignments_per_s"],
        "drain_capped": not drained_ok,
        "slowlog_measured": slow_count,
    }
    baseline: dict[str, Any] = {
        "floor_agents": floor["agents_smallest"],
        "floor_request_us": floor["request_us_smallest"],
        "floor_accept_us": floor["accept_us_smallest"],
        "floor_release_us": floor["release_us_smallest"],
        "backlog_waiting": backlog["waiting_smallest"],
        "backlog_request_us": backlog["request_us_smallest"],
        "backlog_release_us": backlog["release_us_smallest"],
        "backlog_accept_us": backlog["accept_us_smallest"],
        "backlog_tick_us": backlog["tick_us_smallest"],
    }
    targets: dict[str, bool] = {
        f"floor_us_per_call<={TARGET_RATIO:g}x@{largest_floor}agents": bool(
            floor["worst_ratio"] is not None and floor["worst_ratio"] <= TARGET_RATIO
        ),
        f"backlog_us_per_call<={TARGET_RATIO:g}x@{plan.backlog_sizes[-1]}waiting": bool(
            not backlog["capped"]
            and largest_backlog == plan.backlog_sizes[-1]
            and backlog["worst_ratio"] is not None
            and backlog["worst_ratio"] <= TARGET_RATIO
        ),
        f"enqueue_{plan.enqueue_total}<={enqueue['target_s']:g}s": bool(enqueue["met"]),
        f"assignments_per_s>={TARGET_ASSIGNMENTS_PER_S}": bool(
            drained_ok and rate >= TARGET_ASSIGNMENTS_PER_S
        ),
        "slowlog_empty_when_measured": slow_count == 0,
    }
    if surge is not None:
        figures["relay_p99_ms"] = surge["e2e_p99_ms_surge"]
        figures["relay_p50_ms"] = surge["e2e_p50_ms_surge"]
        figures["surge_rounds_completed"] = surge["surge_rounds_completed"]
        baseline["relay_p99_ms"] = surge["e2e_p99_ms_no_surge"]
        baseline["relay_p50_ms"] = surge["e2e_p50_ms_no_surge"]
        p99 = surge["e2e_p99_ms_surge"]
        targets[f"relay_p99<={relay.TARGET_P99_MS:g}ms_under_surge"] = bool(
            p99 is not None and p99 <= relay.TARGET_P99_MS and surge["surge_error"] is None
        )
    return {
        **figures,
        "baseline": baseline,
        "ratio": max(ratios) if ratios else None,
        "ratio_of": "worst growth of a per-call script cost: largest / smallest size "
        "(floor: agents, backlog: waiting)",
        "surge_ratio": surge["ratio"] if surge is not None else None,
        "surge_ratio_of": "relay p99 at the same rate: with the surge / without",
        "targets": targets,
        "slowest_measured": slowest,
        "floor": floor,
        "backlog": backlog,
        "enqueue": enqueue,
        "draining": draining,
        "surge": surge,
        "setup_slowlog": setup_slowlog,
        "loadavg_1m_before": load,
        "plan": asdict(plan),
    }
