"""Topics and languages edited at run time: the routing document's (de)serialisation and
`Router.reconfigure`, which switches a live router to the edited configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from routing import ConfigError, ConversationRequest, Router, RoutingConfig, default_config
from routing.config import DOCUMENT_KEYS, apply_document, parse_config, to_document
from tests.routing.conftest import T0, TEST_CONFIG, make_config, online, tick


def edited(config: RoutingConfig, **topics: dict[str, Any] | None) -> RoutingConfig:
    """``config`` with some topics replaced (a dict), added, or removed (None)."""
    document = to_document(config)
    for name, table in topics.items():
        if table is None:
            del document["topics"][name]
        else:
            document["topics"][name] = table
    return apply_document(config, document)


# --- the document ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", [default_config(), make_config()], ids=["shipped", "test"])
def test_document_round_trips_through_json(config: RoutingConfig) -> None:
    document = to_document(config)
    assert set(document) == set(DOCUMENT_KEYS)
    again = apply_document(config, json.loads(json.dumps(document)))
    assert again == config
    assert list(again.topics) == list(config.topics)  # order kept: the widget lists them so


def test_document_is_the_toml_shape() -> None:
    config = make_config(
        topics={
            "billing": {
                "topic_level": 2,
                "language_level": 2,
                "priority": 3,
                "relax": [
                    {"after_s": 12.5, "language_level": 1},
                    {"after_s": 60, "topic_level": 1, "language_level": 0},
                ],
            },
        }
    )
    assert to_document(config) == {
        "languages": ["en", "es", "ar"],
        "topics": {
            "billing": {
                "topic_level": 2,
                "language_level": 2,
                "priority": 3,
                "relax": [
                    {"after_s": 12.5, "language_level": 1},
                    {"after_s": 60, "topic_level": 1, "language_level": 0},
                ],
            }
        },
    }


def test_document_keeps_the_base_timings_and_replaces_topics_and_languages() -> None:
    base = make_config(offer_timeout_s=7)
    config = apply_document(base, {"languages": ["fr"], "topics": {"returns": {"relax": []}}})
    assert config.offer_timeout_s == 7 and config.grace_s == base.grace_s
    assert config.languages == ("fr",)
    assert list(config.topics) == ["returns"]
    assert config.topics["returns"].relax == ()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "routing document: must be an object with languages and topics"),
        ({"offer_timeout_s": 5}, "offer_timeout_s: unknown key (known: languages, topics)"),
        (
            {"topics": {"billing": {"topic_level": 6}}},
            "topics.billing.topic_level: must be an integer from 0 (not required) to 5, got 6",
        ),
        (
            {
                "topics": {
                    "billing": {
                        "relax": [
                            {"after_s": 60, "language_level": 1},
                            {"after_s": 30, "language_level": 0},
                        ]
                    }
                }
            },
            "topics.billing.relax[1].after_s: must be a number > previous step's after_s",
        ),
        ({"topics": {"en": {}}}, "topics.en: a topic cannot share its name with a language"),
        ({"languages": ["en", "en"]}, "languages: each language must appear once"),
        (
            {"languages": ["en", "billing"]},
            "topics.billing: a topic cannot share its name with a language",
        ),
        ({"topics": {}}, "topics: must hold at least one [topics.<name>] table"),
    ],
)
def test_bad_documents_get_parse_configs_message(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_document(make_config(), document)
    assert str(info.value) == message


def test_document_and_parse_config_agree() -> None:
    """The document is parse_config's input: the same dict read either way gives one config."""
    data = json.loads(json.dumps(TEST_CONFIG))
    assert apply_document(parse_config(data), to_document(parse_config(data))) == parse_config(data)


# --- Router.reconfigure -----------------------------------------------------------------------


def billing(cid: str, language: str = "en") -> ConversationRequest:
    return ConversationRequest(cid, "billing", language)


async def test_lower_level_offers_a_waiting_conversation_at_once(router: Router) -> None:
    await online(router, "x", {"billing": 1, "en": 5}, 1, T0)  # billing needs 2
    assert (await router.request(billing("c1"), T0)).status == "queued"
    config = edited(router.config, billing={"topic_level": 1, "language_level": 2, "relax": []})
    offers = await router.reconfigure(config, T0 + 5)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "x")]
    assert router.config is config
    records = await router.explain("c1")
    assert [(r["kind"], r.get("required")) for r in records] == [
        ("queued", {"billing": 2, "en": 2}),
        ("offer", {"billing": 1, "en": 2}),
    ]
    # The conversation queued before the edit goes on as any other.
    assignment = await router.accept(offers[0].offer_id, "x", T0 + 6)
    assert assignment.conversation_id == "c1"
    await router.release("c1", T0 + 30)


async def test_a_new_topic_is_routed_and_the_old_one_kept_waiting(router: Router) -> None:
    with pytest.raises(ConfigError, match="unknown topic 'returns'"):
        await router.request(ConversationRequest("r0", "returns", "en"), T0)
    await online(router, "ret", {"returns": 3, "en": 2}, 2, T0)
    await router.request(billing("b1"), T0)  # nobody has billing: waits across the edit
    config = edited(router.config, returns={"topic_level": 2, "language_level": 1, "relax": []})
    assert await router.reconfigure(config, T0 + 1) == []
    result = await router.request(ConversationRequest("r1", "returns", "en"), T0 + 2)
    assert result.status == "offered" and result.offer is not None
    assert result.offer.agent_id == "ret"
    assert [e.conversation_id for e in await router.queue(T0 + 3)] == ["b1"]
    await online(router, "bill", {"billing": 2, "en": 2}, 1, T0 + 4)
    assert [o.conversation_id for o in await router.pending_offers("bill")] == ["b1"]
    assert set((await router.stats(T0 + 5))["topics"]) == {"billing", "general", "vip", "returns"}


async def test_relaxation_schedule_follows_the_edit(router: Router) -> None:
    await online(router, "x", {"billing": 2}, 1, T0)  # no language skill: needs step 2
    await router.request(billing("c1"), T0)  # steps at 60 s and 120 s
    config = edited(
        router.config,
        billing={
            "topic_level": 2,
            "language_level": 2,
            "relax": [{"after_s": 20, "language_level": 1}, {"after_s": 40, "language_level": 0}],
        },
    )
    assert await router.reconfigure(config, T0 + 10) == []
    assert (await tick(router, T0 + 39.9)).offers == []
    due = await tick(router, T0 + 40)  # the old schedule would wait until T0 + 120
    assert [(o.conversation_id, o.agent_id) for o in due.offers] == [("c1", "x")]
    kinds = [(r["kind"], r.get("step")) for r in await router.explain("c1")]
    assert kinds[0] == ("queued", 0) and kinds[-1] == ("offer", 2)


async def test_a_step_already_passed_applies_at_once(router: Router) -> None:
    await online(router, "x", {"billing": 2, "en": 1}, 1, T0)
    await router.request(billing("c1"), T0)
    config = edited(
        router.config,
        billing={
            "topic_level": 2,
            "language_level": 2,
            "relax": [{"after_s": 30, "language_level": 1}],
        },
    )
    offers = await router.reconfigure(config, T0 + 45)  # 45 s waited: step 1 is in force now
    assert [o.conversation_id for o in offers] == ["c1"]
    assert (await router.explain("c1"))[-1]["step"] == 1


async def test_removed_topic_waits_under_fallback_levels(router: Router) -> None:
    await router.request(ConversationRequest("v1", "vip", "en"), T0)
    config = edited(router.config, vip=None)
    assert await router.reconfigure(config, T0 + 1) == []
    with pytest.raises(ConfigError, match="unknown topic 'vip'"):
        await router.request(ConversationRequest("v2", "vip", "en"), T0 + 2)
    # The one already waiting is not lost: an agent with the topic skill (level 1) gets it as
    # soon as it comes online (its class was indexed when the edit filed v1 under it).
    await router.upsert_agent("old", {"vip": 1, "en": 1}, 1, T0 + 3)
    offers = await router.set_status("old", "online", T0 + 3)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("v1", "old")]
    assert await router.reconfigure(config, T0 + 4) == []
    assert "vip" not in (await router.stats(T0 + 5))["topics"]


async def test_two_processes_switch_independently(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    """Each process routes with the configuration it has; the stored configurations live side
    by side under their content hashes until every process has switched."""
    a = Router(redis, config, node_id="a")
    b = Router(redis, config, node_id="b")
    await a.heartbeat(T0)
    await b.heartbeat(T0)
    await online(b, "x", {"returns": 2, "en": 2}, 2, T0)
    new = edited(config, returns={"topic_level": 1, "language_level": 1, "relax": []})
    await a.reconfigure(new, T0 + 1)
    keys = sorted(
        k.decode() if isinstance(k, bytes) else k for k in await redis.keys("{cs}:config:*")
    )
    assert len(keys) == 2
    with pytest.raises(ConfigError):
        await b.request(ConversationRequest("r1", "returns", "en"), T0 + 2)
    assert (await a.request(ConversationRequest("r1", "returns", "en"), T0 + 2)).status == "offered"
    await b.reconfigure(new, T0 + 3)
    assert (await b.request(ConversationRequest("r2", "returns", "en"), T0 + 4)).status == "offered"
    assert sorted(o.conversation_id for o in await a.pending_offers("x")) == ["r1", "r2"]


async def test_reconfigure_survives_lost_configuration(
    redis: aioredis.Redis, router: Router
) -> None:
    """Redis flushed between the edit and the next call: the router stores it again."""
    config = edited(router.config, returns={"topic_level": 1, "language_level": 1, "relax": []})
    await router.reconfigure(config, T0)
    await redis.flushall()
    await router.heartbeat(T0 + 1)
    await online(router, "x", {"returns": 1, "en": 1}, 1, T0 + 1)
    result = await router.request(ConversationRequest("r1", "returns", "en"), T0 + 2)
    assert result.status == "offered"
