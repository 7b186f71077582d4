"""The state machine of test_stateful.py on a large floor: six topics × five languages with
levels 1–3 that relax, at different times, down to no topic or no language at all (some topics
with a priority of their own), 15–40 agents with random skills at levels 1–5 and capacities
0–4 on three nodes, and arrivals in bulk. Many agents and many waiting conversations are what
make rule 2's ranking, the queue order across topics and the positions worth checking: a
router that indexes agents by (topic, language, level) or computes positions on demand must
still agree with the oracle after every step."""

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

LANGUAGES = ["en", "es", "fr", "de", "ar"]
CONFIG: RoutingConfig = parse_config(
    {
        "offer_timeout_s": 20,
        "preferred_window_s": 10,
        "heartbeat_timeout_s": 15,
        "grace_s": 20,
        "reoffer_cooldown_s": 15,
        "handle_time_default_s": 120,
        "languages": LANGUAGES,
        "topics": {
            # language first, then the topic: anyone at all after 90 s
            "billing": {
                "topic_level": 2,
                "language_level": 2,
                "relax": [
                    {"after_s": 30, "language_level": 1},
                    {"after_s": 60, "language_level": 0},
                    {"after_s": 90, "topic_level": 0},
                ],
            },
            # the topic goes first: after 80 s anyone speaking the language
            "tech": {
                "topic_level": 3,
                "language_level": 1,
                "relax": [{"after_s": 40, "topic_level": 1}, {"after_s": 80, "topic_level": 0}],
            },
            "general": {"topic_level": 1, "language_level": 1, "relax": []},
            "vip": {
                "topic_level": 2,
                "language_level": 2,
                "priority": 5,
                "relax": [{"after_s": 20, "topic_level": 1}, {"after_s": 45, "language_level": 0}],
            },
            "sales": {
                "topic_level": 1,
                "language_level": 3,
                "priority": -2,
                "relax": [
                    {"after_s": 25, "language_level": 2},
                    {"after_s": 50, "language_level": 1},
                    {"after_s": 100, "language_level": 0},
                ],
            },
            # both at once, then no topic while the language is still required
            "security": {
                "topic_level": 3,
                "language_level": 3,
                "priority": 2,
                "relax": [
                    {"after_s": 35, "topic_level": 2, "language_level": 2},
                    {"after_s": 70, "topic_level": 0},
                    {"after_s": 110, "language_level": 0},
                ],
            },
        },
    }
)
TOPICS = sorted(CONFIG.topics)
AGENTS = [f"a{i:02}" for i in range(1, 41)]
levels = st.integers(min_value=1, max_value=5)
# One to three topics and up to two languages, at any level (some agents speak no language,
# some have no topic: they matter once a step drops that requirement).
skills_st = st.builds(
    lambda topics, languages: {**topics, **languages},
    st.dictionaries(st.sampled_from(TOPICS), levels, min_size=0, max_size=3),
    st.dictionaries(st.sampled_from(LANGUAGES), levels, min_size=0, max_size=2),
)
capacity_st = st.integers(min_value=0, max_value=4)
arrival_st: st.SearchStrategy[Arrival] = st.tuples(
    st.sampled_from(TOPICS),
    st.sampled_from(LANGUAGES),
    st.one_of(st.none(), st.none(), st.integers(min_value=-3, max_value=6)),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(AGENTS), st.integers(-40, 39)),
    st.lists(st.sampled_from(AGENTS), max_size=3),
)
advance = st.one_of(
    st.just(0),
    st.integers(min_value=0, max_value=4_000),
    st.integers(min_value=0, max_value=30_000),
)


class LargeFloor(RoutingMachine):
    config: ClassVar[RoutingConfig] = CONFIG
    agent_ids: ClassVar[list[str]] = AGENTS
    nodes: ClassVar[list[str]] = ["n1", "n2", "n3"]
    team: ClassVar[st.SearchStrategy[list[Member]]] = st.lists(
        st.tuples(
            skills_st,
            capacity_st,
            st.sampled_from(["online", "online", "online", "online", "away", "offline"]),
        ),
        min_size=15,
        max_size=40,
    )
    skills: ClassVar[st.SearchStrategy[dict[str, int]]] = skills_st
    capacity: ClassVar[st.SearchStrategy[int]] = capacity_st
    arrival: ClassVar[st.SearchStrategy[Arrival]] = arrival_st
    arrivals: ClassVar[st.SearchStrategy[list[Arrival]]] = st.lists(
        arrival_st, min_size=2, max_size=10
    )
    advance: ClassVar[st.SearchStrategy[int]] = advance
    several: ClassVar[st.SearchStrategy[int]] = st.integers(min_value=1, max_value=4)
    # past timeouts, dead nodes and grace, and past the relaxation steps (up to 110 s)
    long_advance: ClassVar[st.SearchStrategy[int]] = st.one_of(
        st.integers(min_value=15_000, max_value=40_000),
        st.integers(min_value=40_000, max_value=120_000),
    )


LargeFloor.configure()


# Generous: on a failure Hypothesis shrinks for up to 5 minutes before it reports.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_routing_state_machine_on_a_large_floor(redis_server: RedisServer) -> None:
    LargeFloor.url = redis_server.url
    run_state_machine_as_test(
        LargeFloor,
        settings=settings(
            max_examples=60,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
            ],
            database=None,
        ),
    )
