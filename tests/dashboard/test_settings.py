"""`CHATSERVER_SLA_WAIT_S`: the dashboard's service-level threshold."""

from __future__ import annotations

import pytest

from chatserver.settings import SettingsError, from_environment


def test_the_default_is_a_minute_and_the_environment_sets_it() -> None:
    assert from_environment({}).sla_wait_s == 60.0
    assert from_environment({"CHATSERVER_SLA_WAIT_S": "45.5"}).sla_wait_s == 45.5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "CHATSERVER_SLA_WAIT_S: must be > 0"),
        ("-5", "CHATSERVER_SLA_WAIT_S: must be > 0"),
        ("nan", "CHATSERVER_SLA_WAIT_S: must be > 0"),
        ("inf", "CHATSERVER_SLA_WAIT_S: must be > 0"),
        ("soon", "CHATSERVER_SLA_WAIT_S='soon': could not convert string to float"),
    ],
)
def test_a_bad_threshold_is_refused_with_the_variables_name(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        from_environment({"CHATSERVER_SLA_WAIT_S": raw})
    assert str(err.value).startswith(message)
