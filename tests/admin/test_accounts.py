"""The checks the command line and the admin API share (`chatserver.core.accounts`), and the rule
of which changes end an agent's sessions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chatserver.core.accounts import (
    AccountError,
    check_capacity,
    check_display_name,
    check_password,
    check_roles,
    check_skills,
    check_username,
    generate_password,
    revokes_sessions,
)

KNOWN = ("general", "billing", "en", "es")


def refused(field: str, call: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(AccountError) as info:
        call(*args, **kwargs)
    assert info.value.field == field
    return str(info.value)


def test_username() -> None:
    assert check_username("  ann ") == "ann"
    assert check_username("x" * 64) == "x" * 64
    for bad in ("", "   ", "ann lee", "x" * 65, None, 7):
        assert "1..64 characters without spaces" in refused("username", check_username, bad)


def test_display_name() -> None:
    assert check_display_name(None, "ann") == "ann"
    assert check_display_name("   ", "ann") == "ann"
    assert check_display_name("  Ann   Lee ", "ann") == "Ann Lee"
    assert "at most 100" in refused("display_name", check_display_name, "x" * 101, "ann")
    assert "text" in refused("display_name", check_display_name, 5, "ann")


def test_capacity() -> None:
    assert check_capacity(1) == 1 and check_capacity(50) == 50
    for out_of_range in (0, 51, -1):
        assert refused("capacity", check_capacity, out_of_range) == "capacity must be 1..50"
    for not_whole in (True, 2.5, "3", None):
        assert "whole number" in refused("capacity", check_capacity, not_whole)


def test_roles() -> None:
    assert check_roles(["agent", "admin", "agent"]) == ("agent", "admin")
    assert "at least one role" in refused("roles", check_roles, [])
    assert "at least one role" in refused("roles", check_roles, None)
    assert "'boss' is unknown" in refused("roles", check_roles, ["agent", "boss"])


def test_skills_from_the_command_line_and_from_json() -> None:
    assert check_skills("Billing:5, en:3") == {"billing": 5, "en": 3}
    assert check_skills({" Billing ": 5, "en": 1}, KNOWN) == {"billing": 5, "en": 1}
    assert "level must be 1..5" in refused("skills", check_skills, "billing:9")
    assert "level must be 1..5, got 0" in refused("skills", check_skills, {"billing": 0})
    assert "whole number" in refused("skills", check_skills, {"billing": "5"})
    assert "whole number" in refused("skills", check_skills, {"billing": True})
    assert "at least one skill" in refused("skills", check_skills, {})
    message = refused("skills", check_skills, {"cooking": 2}, KNOWN)
    assert message == (
        "skill 'cooking' is not a configured topic or language "
        "(configured: general, billing, en, es)"
    )
    # A skill the agent has for a topic since removed may stay.
    assert check_skills({"vip": 2, "en": 3}, KNOWN, kept=("vip",)) == {"vip": 2, "en": 3}
    # The command line names any skill it likes (no configuration at hand).
    assert check_skills("cooking:2") == {"cooking": 2}


def test_password() -> None:
    assert check_password("long enough") == "long enough"
    assert "at least 8" in refused("password", check_password, "short")
    assert "text" in refused("password", check_password, None)
    made = {generate_password() for _ in range(20)}
    assert len(made) == 20 and all(len(p) == 16 for p in made)


@pytest.mark.parametrize(
    ("changes", "before", "revokes"),
    [
        ({"password_hash": "h"}, ("agent",), True),
        ({"disabled": True}, ("agent",), True),
        ({"disabled": False}, ("agent",), False),
        ({"roles": ("agent",)}, ("agent", "admin"), True),  # demoted
        ({"roles": ("agent", "supervisor")}, ("agent",), False),  # a role added
        ({"roles": ("agent",)}, (), True),  # roles before unknown: be safe
        ({"capacity": 4, "skills": {"en": 2}}, ("agent",), False),
    ],
)
def test_which_changes_end_sessions(
    changes: dict[str, object], before: tuple[str, ...], revokes: bool
) -> None:
    assert revokes_sessions(changes, before) is revokes
