"""`floor`: the live figures from a router snapshot, on hand-made snapshots (no Redis)."""

from __future__ import annotations

from typing import Any

from chatserver.store import AgentRecord
from chatserver.web.dashboard_figures import floor

TOPICS = ("general", "billing")


def agent(id_: str, name: str, roles: tuple[str, ...] = ("agent",)) -> AgentRecord:
    return AgentRecord(
        id=id_, username=id_, display_name=name, password_hash="", skills={"billing": 3},
        capacity=2, roles=roles, created_at="2026-05-01T00:00:00.000Z",  # type: ignore[arg-type]
    )  # fmt: skip


def conv(cid: str, state: str, topic: str, arrived: int, **extra: Any) -> dict[str, Any]:
    return {"conversation_id": cid, "state": state, "topic": topic, "language": "en",
            "arrived_at": arrived, "meta": {"visitor_name": cid.upper()}, **extra}  # fmt: skip


def test_offered_chats_still_wait_and_breaches_are_over_the_threshold() -> None:
    now = 1_000_000
    snap = {
        "agents": [
            {"agent_id": "a1", "status": "online", "capacity": 2, "load": 2,
             "skills": {"billing": 3}, "active": ["c3"], "offers": [{"offer_id": "o"}]},
            {"agent_id": "a2", "status": "away", "capacity": 3, "load": 0,
             "skills": {"general": 1}, "active": [], "offers": []},
        ],
        "conversations": [
            conv("c1", "waiting", "billing", now - 61_000),
            conv("c2", "offered", "billing", now - 60_000, agent_id="a1"),
            conv("c3", "active", "billing", now - 300_000, accepted_at=now - 90_000),
            conv("c4", "waiting", "general", now - 5_000),
        ],
    }  # fmt: skip
    agents = {"a1": agent("a1", "Ann"), "a2": agent("a2", "Bob"), "a3": agent("a3", "Cy"),
              "s1": agent("s1", "Sue", ("supervisor",))}  # fmt: skip
    got = floor(snap, TOPICS, agents, now_ms=now, sla_wait_s=60)
    assert got["totals"] == {
        "waiting": 3, "longest_wait_s": 61.0, "breaches": 1, "active": 1,
        "agents_online": 1, "agents_away": 1, "capacity": 2, "load": 2,
    }  # fmt: skip
    assert [
        (w["conversation_id"], w["state"], w["offered_to"], w["breach"]) for w in got["waiting"]
    ] == [
        ("c1", "waiting", None, True),
        ("c2", "offered", "Ann", False),  # exactly at the threshold is not over it
        ("c4", "waiting", None, False),
    ]
    topics = {t["topic"]: t for t in got["topics"]}
    assert (topics["billing"]["waiting"], topics["billing"]["breach"]) == (2, True)
    assert (topics["general"]["waiting"], topics["general"]["breach"]) == (1, False)
    assert topics["general"]["agents_online"] == 0 and topics["billing"]["capacity"] == 2
    rows = [(a["display_name"], a["status"], len(a["held"])) for a in got["agents"]]
    # Online first, then away, then accounts the router has never seen; supervisors left out.
    assert rows == [("Ann", "online", 1), ("Bob", "away", 0), ("Cy", "offline", 0)]
    assert got["agents"][0]["held"][0] == {
        "conversation_id": "c3", "topic": "billing", "visitor_name": "C3", "since_s": 90.0,
    }  # fmt: skip


def test_an_empty_floor() -> None:
    got = floor({"agents": [], "conversations": []}, TOPICS, {}, now_ms=5, sla_wait_s=60)
    assert got["totals"]["waiting"] == 0 and got["totals"]["longest_wait_s"] == 0.0
    assert got["waiting"] == [] and got["agents"] == []
    assert [t["topic"] for t in got["topics"]] == list(TOPICS)
