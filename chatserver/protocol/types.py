"""Type aliases shared by the protocol modules (one place, as Starlette keeps its own)."""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["AgentStatus", "ClosedBy", "Role", "SenderRole"]

#: Which endpoint a connection came in on: ``/ws/visitor`` or ``/ws/agent``.
Role: TypeAlias = Literal["visitor", "agent"]

#: Who wrote a stored event (``message.from.role``, ``read.by.role``, ``typing.by.role``).
SenderRole: TypeAlias = Literal["visitor", "agent", "system"]

#: Who closed a conversation (``closed.by``).
ClosedBy: TypeAlias = Literal["visitor", "agent", "system"]

#: What an agent may set with a ``status`` frame.
AgentStatus: TypeAlias = Literal["online", "away"]
