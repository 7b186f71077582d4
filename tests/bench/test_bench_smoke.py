"""The benchmark code runs end to end at a tiny size and reports every figure.

No speed is asserted here (figures on a shared machine drift; `python -m bench` reports them
with their baselines): these tests only show that the scenarios work — servers start, the
load-generator process sets up conversations and idle sockets, every key is in the result —
and that the relay loses and duplicates nothing.
"""

from __future__ import annotations

from typing import Any

from bench import burst, connections, relay

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
