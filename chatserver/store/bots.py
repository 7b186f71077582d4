"""`Bots`: bots that answer a topic's conversations before the agents do (docs/bots.md).

A bot hears its conversations through one of the hub's webhook endpoints (``endpoint_id``)
and answers through the REST API with one API key that carries the ``bot`` scope
(``key_id``). ``topics`` are the topics whose new conversations it takes first;
``answer_timeout_s`` how long a visitor's message may wait for its answer before the
conversation is handed over to the agents anyway.

Guarantees (tests/chatserver/store/test_contract_bots.py checks each one):

Unique
    ``id`` and ``name`` are each unique: adding a taken one raises `ConflictError` and stores
    nothing (a rename to a taken name too).
Ordered
    `list_bots` returns every bot, disabled ones too, by ``name``.
Changes are whole
    `update_bot` changes the named fields in one committed transaction and returns the
    record as it is now; an unknown id raises `NotFoundError`, an unknown field `ValueError`.
    `delete_bot` returns whether there was one. A deleted bot's conversations keep its id
    (``bot_id``): the figures still count them as a bot's.
Figures
    `bot_figures` counts each bot's conversations from their rows as committed: held now
    (open, never handed over), resolved (closed, never handed over), handed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["BOT_FIELDS", "BotFigures", "BotRecord", "Bots"]

#: Fields `update_bot` may change.
BOT_FIELDS = frozenset(
    {"name", "endpoint_id", "key_id", "topics", "answer_timeout_s", "enabled", "updated_at"}
)


@dataclass(frozen=True, slots=True)
class BotRecord:
    id: str
    name: str
    endpoint_id: str
    key_id: str
    topics: tuple[str, ...]
    answer_timeout_s: float
    created_at: str
    updated_at: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class BotFigures:
    held: int = 0
    resolved: int = 0
    handed_over: int = 0


class Bots(Protocol):
    """Bots: added, listed, changed, deleted."""

    async def add_bot(self, bot: BotRecord) -> None:
        """`ConflictError` if its id or name is taken."""

    async def get_bot(self, bot_id: str) -> BotRecord | None: ...

    async def list_bots(self) -> list[BotRecord]:
        """Every bot, by name."""

    async def update_bot(self, bot_id: str, **fields: object) -> BotRecord:
        """Change ``fields`` (some of `BOT_FIELDS`); the record as it is now."""

    async def delete_bot(self, bot_id: str) -> bool:
        """Whether there was one to delete."""

    async def bot_figures(self) -> dict[str, BotFigures]:
        """Each bot's conversations (by bot id; a bot with none is left out)."""
