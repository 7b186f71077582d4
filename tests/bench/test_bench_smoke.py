"""The benchmark code runs end to end at a tiny size and reports every figure.

No speed is asserted here (figures on a shared machine drift; `python -m bench` reports them
with their baselines): these tests only show that the scenarios work — servers start, the
load-generator process sets up conversations and idle sockets, every key is in the result —
and that the relay loses and duplicates nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import (
    analytics_scale,
    bots,
    burst,
    connections,
    queue_updates,
    relay,
    routing_scale,
    webhooks,
)
from bench._analytics_stores import generated
from bench._scale_tools import Plan

pytestmark = pytest.mark.slow  # each starts servers and load generators: 5-15 s

STEP_KEYS = {
    "offered_msg_s",
    "achieved_msg_s",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "agent_to_visitor_p99_ms",
    "ack_p50_ms",
    "ack_p99_ms",
    "send_lag_p99_ms",
    "sent",
    "deliveries",
    "lost",
    "duplicated",
    "unacked",
    "out_of_order",
    "errors",
    "connections_closed",
    "server_cpu_pct",
    "generator_cpu_pct",
    "generator_saturated",
    "ok",
}
RELAY_KEYS = STEP_KEYS | {
    "conversations",
    "rate_msg_s",
    "message_bytes",
    "max_rate_p99_lt_50ms",
    "ramp",
    "two_processes",
    "baseline",
    "ratio",
    "per_message_deflate",
    "server_env",
    "targets",
}
CONNECTION_KEYS = {
    "connections",
    "held",
    "failed",
    "still_open",
    "rss_per_connection_kib",
    "idle_cpu_pct",
    "idle_cpu_pct_no_clients",
    "generator_idle_cpu_pct",
    "fd_limited",
}


def _clean(step: dict[str, Any], sent: int) -> None:
    assert STEP_KEYS <= step.keys(), STEP_KEYS - step.keys()
    assert step["sent"] == sent
    assert step["lost"] == 0
    assert step["duplicated"] == 0
    assert step["unacked"] == 0
    assert step["deliveries"] == sent
    assert step["out_of_order"] == 0
    assert step["errors"] == 0, step["error_kinds"]
    assert step["server_cpu_pct"] >= 0
    assert len(step["generators_cpu_pct"]) == 1


def test_relay_at_a_tiny_size() -> None:
    plan = relay.Plan(
        conversations=4,
        agents=2,
        capacity=5,
        rate=20,
        warmup_s=0.5,
        duration_s=1.0,
        bare_duration_s=1.0,
        grace_s=5.0,
        ramp_step_s=0.5,
        ramp_max_steps=1,
        ramp_refine=0,
        two_process_duration_s=1.0,
    )
    result = relay.measure(plan)
    assert RELAY_KEYS <= result.keys(), RELAY_KEYS - result.keys()
    _clean(result, 20)
    _clean(result["two_processes"], 20)
    _clean(result["baseline"], 20)
    assert result["setup"] == {
        "conversations": 4,
        "agents": 2,
        "capacity": 5,
        "hub_processes": 1,
        "generators": 1,
        "setup_s": result["setup"]["setup_s"],
    }
    assert result["two_processes"]["setup"]["hub_processes"] == 2
    # The fixed-rate step, then at most one ramp step (none if a busy machine failed the first
    # and 10 msg/s is below the ramp's floor).
    assert 1 <= len(result["ramp"]) <= 2
    assert 1 <= len(result["baseline"]["ramp"]) <= 2
    assert result["ratio"] >= 0
    assert set(result["targets"].values()) <= {True, False}


def test_connections_at_a_tiny_size() -> None:
    plan = connections.Plan(
        connections=20, generators=2, concurrency=5, settle_s=0.2, idle_s=0.5, quiet_s=0.2, warmup=2
    )
    result = connections.measure(plan)
    assert result["idle_cpu_pct"] is not None
    for figures in (result, result["baseline"]):
        assert CONNECTION_KEYS <= figures.keys(), CONNECTION_KEYS - figures.keys()
        assert figures["held"] == figures["still_open"] == 20
        assert figures["failed"] == 0
        assert not figures["fd_limited"]
    assert "ratio" in result
    assert set(result["targets"].values()) <= {True, False}


def test_burst_at_a_tiny_size() -> None:
    steady = burst.one_run(100, rate=50)
    at_once = burst.one_run(100, rate=None)
    for figures in (steady, at_once):
        assert figures["ok"], figures
        assert figures["assigned"] == figures["visitors"] == 100
        assert figures["start_errors"] == figures["accept_errors"] == {}
        assert figures["time_to_all_assigned_s"] > 0
        assert figures["to_assigned_p99_s"] >= figures["to_assigned_p50_s"] > 0
        assert figures["pool_waits"] > 0
    assert steady["sending_s"] > 1.5 > at_once["sending_s"]


def test_routing_scale_at_a_tiny_size() -> None:
    plan = Plan(
        floor_sizes=(3, 6),
        backlog_sizes=(0, 30),
        calls=20,
        enqueue_total=60,
        enqueue_agents=5,
        drain_agents=4,
        drain_capacity=2,
        drain_waiting=40,
        cap_s=30.0,
        surge_visitors=30,
        surge_agents=3,
        surge_step_s=1.0,
        hub=relay.Plan(
            conversations=4, agents=2, capacity=5, rate=20, warmup_s=0, duration_s=1, grace_s=3
        ),
    )
    result = routing_scale.measure(plan)
    assert {"baseline", "ratio", "ratio_of", "targets"} <= result.keys()
    assert set(result["targets"].values()) <= {True, False}
    floor, backlog = result["floor"], result["backlog"]
    assert [s["agents"] for s in floor["per_size"]] == [3, 6]
    assert [s["waiting"] for s in backlog["per_size"]] == [0, 30]
    for size in floor["per_size"]:
        assert set(size["calls"].values()) == {-(-20 // size["agents"]) * size["agents"]}
        assert all(size[f"{k}_us"] > 0 for k in ("request", "accept", "release"))
    for size in backlog["per_size"]:
        assert size["calls"] == {"request": 20, "release": 20, "accept": 20, "tick": 20}
        assert size["releases_without_offer"] == 0
        assert not size["capped"]
    assert result["baseline"]["floor_agents"] == 3
    assert result["baseline"]["backlog_waiting"] == 0
    assert result["enqueue"]["reached"] == result["enqueue"]["waiting_after"] == 60
    drain = result["draining"]
    assert drain["accepted"] == drain["waiting"] == 40
    assert drain["left_waiting"] == 0 and drain["errors"] == 0 and not drain["capped"]
    assert result["slowlog_measured"] >= 0
    surge = result["surge"]
    assert surge["surge_error"] is None, surge["surge_error"]
    assert surge["surge_accepted"] > 0
    assert not surge["surge_thread_alive"]
    assert "server_tracebacks" not in surge, surge["server_tracebacks"]
    for step in (surge["no_surge"], surge["with_surge"]):
        assert step["lost"] == step["duplicated"] == step["errors"] == 0, step
    assert result["relay_p99_ms"] is not None and result["baseline"]["relay_p99_ms"] is not None


def test_queue_updates_at_a_tiny_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hubs, one client process each, 40 waiting visitors, one-second windows."""
    monkeypatch.setattr(queue_updates, "QUICK_N", 40)
    monkeypatch.setattr(queue_updates, "WINDOW_S", 1.5)
    monkeypatch.setattr(queue_updates, "SETTLE_S", 4.0)  # corrections at position ≤ 40: ≤ 2.5 s
    result = queue_updates.run(True)
    assert {"baseline", "ratio", "ratio_of", "targets", "cpu_pct"} <= result.keys()
    assert result["visitors"] == 40 and result["hubs"] == 2
    assert set(result["cpu_pct"]) == {"connected", "waiting_still", "waiting_moving"}
    assert all(len(v) == 2 for v in result["cpu_pct"].values())
    assert result["targets"]["no_tracebacks"]
    assert result["frames_while_still"] == 0
    assert result["frames_per_s"] > 0  # the queue moved: somebody heard
    assert result["gaps_under_0_9_s"] == 0


def test_analytics_scale_at_a_tiny_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two tiny SQLite stores and one on PostgreSQL, one round each: every row answered by a
    real hub (the last page not empty, ending at the oldest conversation), the report written,
    the figures complete."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    plan = analytics_scale.Plan(sizes=(200, 2_000), postgres_sizes=(200,), runs=1)
    result = analytics_scale.measure(plan)
    assert result["generate_s"]["200"] is not None  # made here, then found in the cache
    assert generated(200).generate_s is None
    rows = [name for name, _, _ in analytics_scale.ROWS] + ["report_html"]
    assert result["conversations"] == 2_000
    assert all(result[f"{name}_ms"] > 0 for name in rows)
    assert {"raw_all_ms", "raw_7d_ms", "raw_14d_ms"} <= result["baseline"].keys()
    assert result["targets"]["figures_complete"]
    assert set(result["targets"].values()) <= {True, False}
    for label, sizes in (("sqlite", [200, 2_000]), ("postgresql", [200])):
        per_size = result[f"{label}_ms"]["per_size"]
        assert [s["conversations"] for s in per_size] == sizes
        assert all(s["figures_complete"] and s["events"] > 10 * s["conversations"]
                   for s in per_size)  # fmt: skip
        assert all(r[name] > 0 for r in result[f"{label}_ratio"]["per_size"] for name in rows)
    growth = result["sqlite_growth_per_10x"]
    assert (growth["from"], growth["to"]) == (200, 2_000)
    assert all(growth[name] > 0 for name in rows)


def test_webhooks_at_a_tiny_size() -> None:
    sizes = webhooks.Sizes(
        per_producer=3,
        backlog=(40, 80),
        deliveries=40,
        postgresql=None,
        producers=20,
        conversations=10,
        rounds=2,
    )
    result = webhooks.measure(sizes)
    events = 20 * 3
    write = result["write_path"]
    # Every append made a delivery per endpoint, none more.
    assert [write[f"{n}_endpoints"]["deliveries"] for n in (0, 1, 5)] == [0, events, 5 * events]
    assert all(write[k]["events"] == events for k in write)
    assert [b["pending"] for b in result["backlog"]] == [40, 80]
    assert result["end_to_end"]["deliveries"] == 40
    assert result["end_to_end"]["deliveries_per_s"] > 0
    assert set(result["targets"]) == {"one_endpoint_costs_under_30pct", "claims_flat_with_backlog"}
    assert result["baseline"] == write["0_endpoints"]


def test_bots_at_a_tiny_size() -> None:
    result = bots.measure(bots.Sizes(waiting=(50, 500), held=(5, 20), rounds=2))
    assert [c["not_due"] for c in result["claims"]] == [50, 500]
    assert all(c["due"] == bots.DUE and c["claim_ms"] > 0 for c in result["claims"])
    assert [r["held"] for r in result["rearm"]] == [5, 20]
    assert set(result["targets"]) == {"claims_flat_with_deadlines", "rearm_linear"}
