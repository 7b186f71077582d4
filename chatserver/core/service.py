"""The core as the hub context and the socket adapter see it: one object that builds the parts
and says which handler takes which command.

| part | module | what it does |
|---|---|---|
| `Core` | `core.base` | dependencies, commit-then-publish, who may see what, the message path |
| `VisitorCommands` | `core.visitors` | a visitor's hello, identify, start, message, rate, leave_message |
| `AgentCommands` | `core.agents` | an agent's welcome, status, accept, decline, message, note, tag, transfer |
| `ConversationCommands` | `core.conversations` | resume, typing, read, close (both sides) |
| `RouterEvents` | `core.router_events` | the router's events → offers, queue positions, status |
| `Recovery` | `core.recovery` | re-registering agents, requeueing, offers again, agents lost |
| `BotDesk` | `core.bots` | bot first, then a person: which bot, handoffs, answer timeouts |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import routing
from chatserver import protocol as p
from chatserver.core.agents import AgentCommands
from chatserver.core.base import Core
from chatserver.core.bots import BotDesk
from chatserver.core.conversations import ConversationCommands
from chatserver.core.delivery import Client
from chatserver.core.hub import Hub
from chatserver.core.interfaces import ConversationStore, Router
from chatserver.core.recovery import Recovery
from chatserver.core.router_events import RouterEvents
from chatserver.core.visitors import VisitorCommands
from chatserver.metrics import Metrics
from chatserver.settings import Settings

#: A command handler: the connection and the parsed command.
Handler = Callable[[Client, Any], Awaitable[None]]


class Service:
    def __init__(
        self,
        settings: Settings,
        store: ConversationStore,
        router: Router,
        hub: Hub,
        metrics: Metrics,
        router_config: routing.RoutingConfig,
    ) -> None:
        self.core = core = Core(settings, store, router, hub, metrics, router_config)
        self.recovery = Recovery(core)
        self.bots = BotDesk(core, store)
        self.visitors = VisitorCommands(core, self.bots)
        hub.on_visitor_queued = core.positions.follow
        self.agents = AgentCommands(core, self.recovery)
        self.conversations = ConversationCommands(core, self.recovery)
        self.router_events = RouterEvents(core)
        conversations = self.conversations
        self._handlers: dict[str, dict[type, Handler]] = {
            "visitor": {
                p.Start: self.visitors.start,
                p.Message: self.visitors.message,
                p.Typing: conversations.typing,
                p.Read: conversations.read,
                p.Resume: conversations.resume,
                p.Close: conversations.close,
                p.Rate: self.visitors.rate,
                p.LeaveMessage: self.visitors.leave_message,
                p.Identify: self.visitors.identify,
                p.Handoff: self.visitors.handoff,
            },
            "agent": {
                p.Status: self.agents.status,
                p.Accept: self.agents.accept,
                p.Decline: self.agents.decline,
                p.Message: self.agents.message,
                p.Typing: conversations.typing,
                p.Read: conversations.read,
                p.Resume: conversations.resume,
                p.Close: conversations.close,
                p.Transfer: self.agents.transfer,
                p.Note: self.agents.note,
                p.Tag: self.agents.tag,
            },
        }

    def handler(self, role: str, command: type) -> Handler | None:
        """What handles ``command`` on a ``role`` connection; None: not a command it may send."""
        return self._handlers[role].get(command)

    @property
    def router_config(self) -> routing.RoutingConfig:
        return self.core.router_config

    @router_config.setter
    def router_config(self, config: routing.RoutingConfig) -> None:
        self.core.router_config = config

    @property
    def session_alive(self) -> Callable[[Client], Awaitable[bool]] | None:
        return self.core.session_alive

    @session_alive.setter
    def session_alive(self, check: Callable[[Client], Awaitable[bool]] | None) -> None:
        self.core.session_alive = check

    @property
    def draining(self) -> bool:
        return self.core.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self.core.draining = value

    async def after_redis_loss(self, now: float) -> None:
        """Redis lost its data (one process does this): route the stored waiting conversations
        again, and give the conversations bots hold their answer deadlines back."""
        await self.recovery.requeue_waiting(now)
        await self.bots.rearm(now)

    async def on_tick(self, result: routing.TickResult, now: float) -> None:
        """The router's tick is done: chats of agents gone come back, bots that did not
        answer in time hand over, positions go out."""
        await self.recovery.on_tick(result, now)
        await self.bots.sweep(now)
        await self.core.positions.refresh(now)
