"""Records to SQL column values and back, with the checks every write makes first.

Shared by the SQL stores: JSON columns are orjson text, booleans 0/1, tuples JSON lists.
Invalid values raise ``ValueError``/``TypeError`` here, before anything is queued or written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson

from ..base import (
    ACTOR_ROLES,
    AGENT_FIELDS,
    AGENT_ROLES,
    CONVERSATION_FIELDS,
    CONVERSATION_STATUSES,
    VISITOR_FIELDS,
    ActorRole,
    AgentRecord,
    AgentRole,
    ConversationRecord,
    ConversationStatus,
    DecisionRecord,
    StoredEvent,
    TokenRecord,
    VisitorRecord,
)

_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

AGENT_COLUMNS = (
    "id, username, display_name, password_hash, skills, capacity, roles, disabled, created_at"
)
TOKEN_COLUMNS = "token_hash, agent_id, created_at, expires_at, revoked_at"
VISITOR_COLUMNS = (
    "id, token_hash, site, name, email, created_at, last_seen_at, external_id, verified"
)
CONVERSATION_COLUMNS = (
    "id, visitor_id, site, topic, language, status, priority, agent_id, last_agent_id,"
    " created_at, assigned_at, first_response_at, closed_at, closed_by, page_url, last_seq,"
    " rating, rating_comment, tags, bot_id, handed_over_at"
)
EVENT_COLUMNS = "conversation_id, seq, ts, kind, actor_role, actor_id, actor_name, client_id, body"
DECISION_COLUMNS = "id, conversation_id, ts, explanation"


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def check_ts(ts: str, name: str = "ts") -> str:
    if type(ts) is not str or _TS.fullmatch(ts) is None:
        raise ValueError(
            f"{name} must look like 2026-11-26T04:05:06.123Z (see iso_now), not {ts!r}"
        )
    return ts


def _check_optional_ts(value: Any, name: str) -> Any:
    return value if value is None else check_ts(value, name)


def check_actor_role(role: str) -> str:
    if role not in ACTOR_ROLES:
        raise ValueError(f"actor_role must be one of {sorted(ACTOR_ROLES)}, not {role!r}")
    return role


def encode_body(body: Any) -> str:
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object (dict), not {type(body).__name__}")
    return orjson.dumps(body).decode()


# --- agents -------------------------------------------------------------------------------


def _skills(skills: Any) -> str:
    if not isinstance(skills, Mapping):
        raise TypeError("skills is a mapping of skill name to level 1..5")
    for name, level in skills.items():
        if not isinstance(name, str) or type(level) is not int or not 1 <= level <= 5:
            raise ValueError(f"skill {name!r}: the level must be an int from 1 to 5, not {level!r}")
    return dumps(dict(skills))


def _roles(roles: Any) -> str:
    if isinstance(roles, str) or not isinstance(roles, Sequence):
        raise TypeError("roles is a sequence of role names")
    unknown = [r for r in roles if r not in AGENT_ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; allowed: {sorted(AGENT_ROLES)}")
    return dumps(list(dict.fromkeys(roles)))


def _capacity(capacity: Any) -> int:
    if type(capacity) is not int or capacity < 0:
        raise ValueError(f"capacity must be an int >= 0, not {capacity!r}")
    return capacity


def _text(value: Any, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return value


def agent_row(agent: AgentRecord) -> tuple[Any, ...]:
    """(id, username, username_key, display_name, password_hash, skills, capacity, roles,
    disabled, created_at)."""
    return (
        _text(agent.id, "id"),
        _text(agent.username, "username"),
        agent.username.casefold(),
        _text(agent.display_name, "display_name"),
        _text(agent.password_hash, "password_hash"),
        _skills(agent.skills),
        _capacity(agent.capacity),
        _roles(agent.roles),
        int(bool(agent.disabled)),
        check_ts(agent.created_at, "created_at"),
    )


def agent_changes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`update_agent` keyword arguments as column values (username adds username_key)."""
    _known(fields, AGENT_FIELDS, "agent")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "username":
            out["username"] = _text(value, name)
            out["username_key"] = value.casefold()
        elif name == "skills":
            out[name] = _skills(value)
        elif name == "roles":
            out[name] = _roles(value)
        elif name == "capacity":
            out[name] = _capacity(value)
        elif name == "disabled":
            out[name] = int(bool(value))
        else:
            out[name] = _text(value, name)
    return out


def agent_from_row(row: Sequence[Any]) -> AgentRecord:
    return AgentRecord(
        id=row[0],
        username=row[1],
        display_name=row[2],
        password_hash=row[3],
        skills=orjson.loads(row[4]),
        capacity=row[5],
        roles=tuple(cast(list[AgentRole], orjson.loads(row[6]))),
        disabled=bool(row[7]),
        created_at=row[8],
    )


# --- tokens and visitors --------------------------------------------------------------------


def token_row(token: TokenRecord) -> tuple[Any, ...]:
    return (
        _text(token.token_hash, "token_hash"),
        _text(token.agent_id, "agent_id"),
        check_ts(token.created_at, "created_at"),
        _check_optional_ts(token.expires_at, "expires_at"),
        _check_optional_ts(token.revoked_at, "revoked_at"),
    )


def token_from_row(row: Sequence[Any]) -> TokenRecord:
    return TokenRecord(*row)


def visitor_row(visitor: VisitorRecord) -> tuple[Any, ...]:
    return (
        _text(visitor.id, "id"),
        _text(visitor.token_hash, "token_hash"),
        _text(visitor.site, "site"),
        _text(visitor.name, "name", optional=True),
        _text(visitor.email, "email", optional=True),
        check_ts(visitor.created_at, "created_at"),
        _check_optional_ts(visitor.last_seen_at, "last_seen_at"),
        _text(visitor.external_id, "external_id", optional=True),
        _bool01(visitor.verified, "verified"),
    )


def _bool01(value: Any, name: str) -> int:
    if type(value) is not bool:
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return int(value)


def visitor_changes(fields: Mapping[str, Any]) -> dict[str, Any]:
    _known(fields, VISITOR_FIELDS, "visitor")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "last_seen_at":
            out[name] = _check_optional_ts(value, name)
        elif name == "verified":
            out[name] = _bool01(value, name)
        else:
            out[name] = _text(value, name, optional=name != "site")
    return out


def visitor_from_row(row: Sequence[Any]) -> VisitorRecord:
    return VisitorRecord(
        id=row[0], token_hash=row[1], site=row[2], name=row[3], email=row[4],
        created_at=row[5], last_seen_at=row[6], external_id=row[7], verified=bool(row[8]),
    )  # fmt: skip


# --- conversations ----------------------------------------------------------------------------

_CONV_TS_FIELDS = frozenset({"assigned_at", "first_response_at", "closed_at", "handed_over_at"})
_CONV_OPTIONAL_TEXT = frozenset(
    {"agent_id", "last_agent_id", "page_url", "rating_comment", "bot_id"}
)


def _known(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(
            f"cannot change {what} fields {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def conversation_changes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`update_conversation` keyword arguments, or an event's ``update=``, as column values."""
    _known(fields, CONVERSATION_FIELDS, "conversation")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "status":
            if value not in CONVERSATION_STATUSES:
                raise ValueError(f"status must be one of {sorted(CONVERSATION_STATUSES)}")
            out[name] = value
        elif name == "closed_by":
            if value is not None and value not in ACTOR_ROLES:
                raise ValueError(f"closed_by must be one of {sorted(ACTOR_ROLES)} or None")
            out[name] = value
        elif name == "tags":
            if isinstance(value, str) or not all(isinstance(t, str) for t in value):
                raise TypeError("tags is a sequence of strings")
            out[name] = dumps(list(value))
        elif name == "priority":
            if type(value) is not int:
                raise TypeError("priority must be an int")
            out[name] = value
        elif name == "rating":
            if value is not None and (type(value) is not int or not 1 <= value <= 5):
                raise ValueError(f"rating must be an int from 1 to 5 or None, not {value!r}")
            out[name] = value
        elif name in _CONV_TS_FIELDS:
            out[name] = _check_optional_ts(value, name)
        else:
            out[name] = _text(value, name, optional=name in _CONV_OPTIONAL_TEXT)
    return out


def conversation_row(c: ConversationRecord) -> tuple[Any, ...]:
    """All of `CONVERSATION_COLUMNS` but last_seq, which starts at 0."""
    checked = conversation_changes(
        {
            "site": c.site, "topic": c.topic, "language": c.language, "status": c.status,
            "priority": c.priority, "agent_id": c.agent_id, "last_agent_id": c.last_agent_id,
            "assigned_at": c.assigned_at, "first_response_at": c.first_response_at,
            "closed_at": c.closed_at, "closed_by": c.closed_by, "page_url": c.page_url,
            "rating": c.rating, "rating_comment": c.rating_comment, "tags": c.tags,
            "bot_id": c.bot_id, "handed_over_at": c.handed_over_at,
        }
    )  # fmt: skip
    return (
        _text(c.id, "id"), _text(c.visitor_id, "visitor_id"), checked["site"], checked["topic"],
        checked["language"], checked["status"], checked["priority"], checked["agent_id"],
        checked["last_agent_id"], check_ts(c.created_at, "created_at"), checked["assigned_at"],
        checked["first_response_at"], checked["closed_at"], checked["closed_by"],
        checked["page_url"], 0, checked["rating"], checked["rating_comment"], checked["tags"],
        checked["bot_id"], checked["handed_over_at"],
    )  # fmt: skip


def conversation_from_row(row: Sequence[Any]) -> ConversationRecord:
    return ConversationRecord(
        id=row[0], visitor_id=row[1], site=row[2], topic=row[3], language=row[4],
        status=cast(ConversationStatus, row[5]), priority=row[6], agent_id=row[7],
        last_agent_id=row[8], created_at=row[9], assigned_at=row[10],
        first_response_at=row[11], closed_at=row[12], closed_by=cast(ActorRole | None, row[13]),
        page_url=row[14], last_seq=row[15], rating=row[16], rating_comment=row[17],
        tags=tuple(orjson.loads(row[18])), bot_id=row[19], handed_over_at=row[20],
    )  # fmt: skip


# --- events and decisions ---------------------------------------------------------------------


def event_from_row(row: Sequence[Any], duplicate: bool = False) -> StoredEvent:
    return StoredEvent(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        orjson.loads(row[8]),
        duplicate,
    )


def decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    return DecisionRecord(row[0], row[1], row[2], orjson.loads(row[3]))
