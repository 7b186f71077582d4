"""`REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`: Redis reached through Sentinel."""

from __future__ import annotations

import pytest

from chatserver.settings import SettingsError, from_environment


def test_the_sentinels_and_the_masters_name_are_read() -> None:
    settings = from_environment(
        {
            "REDIS_SENTINELS": "10.0.0.5:26379, sentinel-b.example:26380,[::1]:26381,",
            "REDIS_SENTINEL_MASTER": "chat",
        }
    )
    assert settings.redis_sentinels == (
        ("10.0.0.5", 26379),
        ("sentinel-b.example", 26380),
        ("::1", 26381),
    )
    assert settings.redis_sentinel_master == "chat"


def test_without_them_redis_is_reached_as_before() -> None:
    settings = from_environment({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.redis_sentinels == () and settings.redis_sentinel_master is None


@pytest.mark.parametrize(
    ("raw", "bad"),
    [
        ("10.0.0.5", "'10.0.0.5' is not host:port"),
        ("10.0.0.5:26379,10.0.0.6", "'10.0.0.6' is not host:port"),
        ("10.0.0.5:", "'10.0.0.5:' is not host:port"),
        (":26379", "':26379' is not host:port"),
        ("10.0.0.5:0", "'10.0.0.5:0' is not host:port"),
        ("10.0.0.5:65536", "'10.0.0.5:65536' is not host:port"),
        ("10.0.0.5:port", "'10.0.0.5:port' is not host:port"),
        ("redis://10.0.0.5:26379", "'redis://10.0.0.5:26379' is not host:port"),
        ("::1:26379", "'::1:26379' is not host:port"),
        ("10.0.0.5:26379;10.0.0.6:26379", "'10.0.0.5:26379;10.0.0.6:26379' is not host:port"),
        (" , ", "no host:port given"),
    ],
)
def test_a_malformed_list_is_refused_naming_the_variable_and_the_bad_entry(
    raw: str, bad: str
) -> None:
    with pytest.raises(SettingsError) as err:
        from_environment({"REDIS_SENTINELS": raw, "REDIS_SENTINEL_MASTER": "chat"})
    message = str(err.value)
    assert message.startswith(f"REDIS_SENTINELS={raw!r}: {bad}")
    assert "expected e.g. 10.0.0.5:26379,10.0.0.6:26379" in message


@pytest.mark.parametrize(
    "environ",
    [
        {"REDIS_SENTINELS": "10.0.0.5:26379"},
        {"REDIS_SENTINEL_MASTER": "chat"},
    ],
)
def test_one_without_the_other_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="REDIS_SENTINELS and REDIS_SENTINEL_MASTER: set both"):
        from_environment(environ)
