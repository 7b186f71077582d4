"""Agent connections by the session token that opened them, so that ending a session closes
its sockets — on every hub process, whichever way the session was ended.

A session ends when its token is revoked (sign-out, a password or role change, the agent
disabled — from the console, the admin pages, the HTTP API or the command line) or when it
expires. Every one of those paths writes ``revoked_at`` in the store, so the store is the one
place to learn of them: each process asks it at every tick for the tokens revoked lately
(`TranscriptStore.tokens_revoked_since`, a short indexed read), and closes the sockets opened
with them with 4401; expiries come off a heap kept here. A revoked agent is therefore off every
process within a tick or two (0.5 s each by default), and the close path takes an agent with no
socket left out of routing (`offline`), so no further offer reaches it.

What this holds is rebuilt by the connections themselves (each agent ``hello`` adds its
socket): nothing here outlives the process.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatserver.core.delivery import Client

#: How far back each look at the store reaches before the previous one: revocations stamped by
#: another machine's clock, or committed just after the previous look, are still seen.
OVERLAP_S = 10.0


class Sessions:
    """The open agent sockets of this process, by token hash, with their expiry."""

    def __init__(self) -> None:
        self._by_token: dict[str, weakref.WeakSet[Client]] = {}
        self._token_of: weakref.WeakKeyDictionary[Client, str] = weakref.WeakKeyDictionary()
        self._expiry: list[tuple[float, int, str]] = []  # (expires at, tie-break, token hash)
        self._counter = itertools.count()
        #: Epoch seconds of the last look at the store's revocations (`checked`).
        self.checked_at: float | None = None

    def add(self, client: Client, token_hash: str, expires_at: float | None) -> None:
        sockets = self._by_token.get(token_hash)
        if sockets is None:
            sockets = self._by_token[token_hash] = weakref.WeakSet()
            if expires_at is not None:
                heapq.heappush(self._expiry, (expires_at, next(self._counter), token_hash))
        sockets.add(client)
        self._token_of[client] = token_hash

    def token_of(self, client: Client) -> str | None:
        """The hash of the token this socket signed in with."""
        return self._token_of.get(client)

    def ended(self, token_hashes: set[str]) -> list[Client]:
        """The open sockets of these sessions; the sessions are forgotten."""
        found: list[Client] = []
        for token in token_hashes:
            sockets = self._by_token.pop(token, None)
            if sockets:
                found.extend(sockets)
        return found

    def expired(self, now: float) -> list[Client]:
        """The open sockets of sessions whose token expired by ``now``."""
        due: set[str] = set()
        while self._expiry and self._expiry[0][0] <= now:
            due.add(heapq.heappop(self._expiry)[2])
        return self.ended(due)


__all__ = ["OVERLAP_S", "Sessions"]
