"""Random sequences of everything that can happen to the router, on a small team (up to five
agents on two nodes, three topics, two languages), invariants checked after every step (see
machine.py and invariants.py). test_stateful_floor.py runs the same rules on a large floor."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from routing import RoutingConfig
from routing.config import parse_config
from tests.routing.machine import Arrival, Member, RoutingMachine
from tests.support.redis_server import RedisServer

CONFIG: RoutingConfig = parse_config(
    {
        "offer_timeout_s": 20,
        "preferred_window_s": 10,
        "heartbeat_timeout_s": 15,
        "grace_s": 20,
        "reoffer_cooldown_s": 15,
        "handle_time_default_s": 120,
        "languages": ["en", "es"],
        "topics": {
            "billing": {
                "topic_level": 2,
                "language_level": 2,
                "relax": [
                    {"after_s": 30, "language_level": 1},
                    {"after_s": 60, "language_level": 0},
                    {"after_s": 90, "topic_level": 0},
                ],
            },
            "tech": {
                "topic_level": 3,
                "language_level": 1,
                "relax": [
                    {"after_s": 40, "topic_level": 1},
                ],
            },
            "general": {"topic_level": 1, "language_level": 1, "relax": []},
        },
    }
)
AGENTS = ["a1", "a2", "a3", "a4", "a5"]
levels = st.integers(min_value=1, max_value=5)
skills_st = st.dictionaries(
    st.sampled_from(["billing", "tech", "general", "en", "es"]), levels, max_size=5
)
arrival_st: st.SearchStrategy[Arrival] = st.tuples(
    st.sampled_from(["billing", "tech", "general"]),
    st.sampled_from(["en", "es"]),
    st.integers(min_value=0, max_value=2),
    st.one_of(st.none(), st.none(), st.sampled_from(AGENTS), st.integers(-5, 4)),
    st.lists(st.sampled_from(AGENTS), max_size=1),
)
# Mostly short steps (offers, windows and cooldowns overlap), sometimes long ones (timeouts,
# relaxation, dead nodes).
advance = st.one_of(
    st.just(0),
    st.integers(min_value=0, max_value=4_000),
    st.integers(min_value=0, max_value=30_000),
)


class SmallTeam(RoutingMachine):
    config: ClassVar[RoutingConfig] = CONFIG
    agent_ids: ClassVar[list[str]] = AGENTS
    nodes: ClassVar[list[str]] = ["n1", "n2"]
    base_skills: ClassVar[dict[str, int]] = {"billing": 2, "general": 1, "en": 2}  # real choices
    team: ClassVar[st.SearchStrategy[list[Member]]] = st.lists(
        st.tuples(skills_st, st.integers(min_value=1, max_value=3), st.just("online")),
        min_size=2,
        max_size=4,
    )
    skills: ClassVar[st.SearchStrategy[dict[str, int]]] = skills_st
    capacity: ClassVar[st.SearchStrategy[int]] = st.integers(min_value=0, max_value=3)
    arrival: ClassVar[st.SearchStrategy[Arrival]] = arrival_st
    arrivals: ClassVar[st.SearchStrategy[list[Arrival]]] = st.lists(
        arrival_st, min_size=2, max_size=3
    )
    advance: ClassVar[st.SearchStrategy[int]] = advance
    long_advance: ClassVar[st.SearchStrategy[int]] = st.integers(min_value=15_000, max_value=40_000)


SmallTeam.configure()


@pytest.mark.timeout(240)
def test_routing_state_machine(redis_server: RedisServer) -> None:
    SmallTeam.url = redis_server.url
    run_state_machine_as_test(
        SmallTeam,
        settings=settings(
            max_examples=50,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
