"""Rule 5's configuration file: TOML, validated with errors that name the key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from routing import ConfigError, RelaxStep, default_config, load_config
from routing.config import parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(text)
    return path


def test_default_config_is_the_shipped_file() -> None:
    cfg = default_config()
    assert list(cfg.topics) == ["general", "billing", "account", "technical"]
    assert cfg.languages == ("en", "es", "ar", "zh")
    assert (
        cfg.offer_timeout_s,
        cfg.preferred_window_s,
        cfg.heartbeat_timeout_s,
        cfg.grace_s,
        cfg.reoffer_cooldown_s,
        cfg.handle_time_default_s,
    ) == (30, 15, 15, 30, 30, 300)
    shipped = Path(__file__).parents[2] / "routing" / "default_routing.toml"
    assert load_config(shipped) == cfg
    assert cfg.topics["billing"].relax[0] == RelaxStep(60.0, None, 1)


def test_requirements_follow_the_steps() -> None:
    cfg = default_config()
    assert cfg.requirements("billing", "es", 0) == (0, {"billing": 2, "es": 2})
    assert cfg.requirements("billing", "es", 59.999) == (0, {"billing": 2, "es": 2})
    assert cfg.requirements("billing", "es", 60) == (1, {"billing": 2, "es": 1})
    assert cfg.requirements("billing", "es", 120) == (2, {"billing": 2})
    assert cfg.requirements("billing", "es", 3600) == (3, {"billing": 1})
    with pytest.raises(ConfigError, match="unknown topic 'nope'"):
        cfg.requirements("nope", "en", 0)


def test_partial_file_takes_defaults(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
offer_timeout_s = 12.5
[topics.sales]
priority = 3
""",
        )
    )
    assert cfg.offer_timeout_s == 12.5
    assert cfg.grace_s == 30
    assert cfg.languages == ("en", "es", "ar", "zh")
    sales = cfg.topics["sales"]
    assert (sales.topic_level, sales.language_level, sales.priority) == (1, 1, 3)
    assert sales.relax == (RelaxStep(120.0, None, 0),)  # language dropped after 120 s
    assert list(cfg.topics) == ["sales"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """[topics.billing]
relax = [{after_s = 60, language_level = 1}, {after_s = 30, language_level = 0}]""",
            "topics.billing.relax[1].after_s: must be a number > previous step's after_s",
        ),
        (
            """[topics.billing]
relax = [{after_s = 0, language_level = 1}]""",
            "topics.billing.relax[0].after_s: must be a number > 0",
        ),
        (
            """[topics.billing]
relax = [{after_s = 10}]""",
            "topics.billing.relax[0]: a step must set topic_level and/or language_level",
        ),
        (
            """[topics.billing]
relax = [{after_s = 10, language_level = 7}]""",
            "topics.billing.relax[0].language_level: must be an integer from 0",
        ),
        (
            """[topics.billing]
language_level = 1
relax = [{after_s = 10, language_level = 2}]""",
            "topics.billing.relax[0].language_level: a relaxation step cannot raise the level",
        ),
        (
            """[topics.billing]
relax = [{after_s = 10, langauge_level = 1}]""",
            "topics.billing.relax[0].langauge_level: unknown key",
        ),
        (
            """[topics.billing]
topic_level = "high"
""",
            "topics.billing.topic_level: must be an integer from 0",
        ),
        (
            """[topics.billing]
priority = 5000
""",
            "topics.billing.priority: must be an integer from -1000 to 1000",
        ),
        ("offer_timeout_s = 0", "offer_timeout_s: must be > 0"),
        ("grace_s = -1", "grace_s: must be >= 0"),
        ("heartbeat_timeout_s = true", "heartbeat_timeout_s: must be a number"),
        ("offer_timout_s = 3", "offer_timout_s: unknown key"),
        ("languages = []", "languages: must be a non-empty list"),
        ('languages = ["en", "en"]', "languages: each language must appear once"),
        ('languages = ["e n"]', "languages[0]: must be a name"),
        ("topics = {}", "topics: must hold at least one"),
        (
            """languages = ["en", "billing"]
[topics.billing]
""",
            "topics.billing: a topic cannot share its name with a language",
        ),
    ],
)
def test_invalid_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(message)
    assert str(path) in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read routing configuration"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "offer_timeout_s = = 3"))


def test_script_json_resolves_cumulative_levels() -> None:
    cfg = parse_config(
        tomllib.loads("""
languages = ["en"]
[topics.t]
topic_level = 3
language_level = 2
relax = [{after_s = 10, topic_level = 2}, {after_s = 20, language_level = 0},
         {after_s = 30.5, topic_level = 0}]
""")
    )
    assert cfg.topics["t"].levels(0) == (3, 2)
    assert cfg.topics["t"].levels(2) == (2, 0)
    assert cfg.topics["t"].levels(3) == (0, 0)
    fields = cfg.script_fields()
    assert json.loads(fields["t:t"]) == {
        "tl": 3,
        "ll": 2,
        "any": True,
        "steps": [
            {"at": 10000, "tl": 2, "ll": 2},
            {"at": 20000, "tl": 2, "ll": 0},
            {"at": 30500, "tl": 0, "ll": 0},
        ],
    }
    assert json.loads(fields["names"]) == [["t", True]]
    assert json.loads(fields["base"])["ot"] == 30000
    assert cfg.requirements("t", "en", 31) == (3, {})
