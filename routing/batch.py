"""Several router calls in one round trip: :class:`Batch`, made by :meth:`Router.batch`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from routing._calls import Call, missing_config
from routing.errors import RoutingError
from routing.models import AgentStatus, ConversationRequest

if TYPE_CHECKING:
    from routing.router import Router


class Batch:
    """Several independent router calls sent in one round trip (a non-transactional
    pipeline). Each call is still its own atomic script, run in the order queued; other nodes'
    calls may run in between. ``execute`` returns one result per call, in order — the same
    value the Router method returns, or the RoutingError it would raise (not raised here).
    A call Redis refused before running it (flushed script cache, lost configuration) is sent
    again after the others. Useful for bulk work such as restoring many assignments after
    Redis lost its data."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._calls: list[Call[Any]] = []

    def __len__(self) -> int:
        return len(self._calls)

    def _add(self, call: Call[Any]) -> Batch:
        self._calls.append(call)
        return self

    def heartbeat(self, now: float) -> Batch:
        self._calls.append(self._router._calls.heartbeat(now))
        return self

    def upsert_agent(
        self, agent_id: str, skills: dict[str, int], capacity: int, now: float
    ) -> Batch:
        self._calls.append(self._router._calls.upsert_agent(agent_id, skills, capacity, now))
        return self

    def set_status(self, agent_id: str, status: AgentStatus, now: float) -> Batch:
        self._calls.append(self._router._calls.set_status(agent_id, status, now))
        return self

    def set_capacity(self, agent_id: str, capacity: int, now: float) -> Batch:
        self._calls.append(self._router._calls.set_capacity(agent_id, capacity, now))
        return self

    def request(self, req: ConversationRequest, now: float) -> Batch:
        self._calls.append(self._router._calls.request(req, now))
        return self

    def accept(self, offer_id: str, agent_id: str, now: float) -> Batch:
        self._calls.append(self._router._calls.accept(offer_id, agent_id, now))
        return self

    def decline(self, offer_id: str, agent_id: str, now: float) -> Batch:
        self._calls.append(self._router._calls.decline(offer_id, agent_id, now))
        return self

    def release(self, conversation_id: str, now: float) -> Batch:
        self._calls.append(self._router._calls.release(conversation_id, now))
        return self

    def cancel(self, conversation_id: str, now: float) -> Batch:
        self._calls.append(self._router._calls.cancel(conversation_id, now))
        return self

    def restore_assignment(self, req: ConversationRequest, agent_id: str, now: float) -> Batch:
        self._calls.append(self._router._calls.restore_assignment(req, agent_id, now))
        return self

    def tick(self, now: float) -> Batch:
        self._calls.append(self._router._calls.tick(now))
        return self

    async def _send(self, calls: list[Call[Any]]) -> list[Any]:
        # Plain EVALSHA: a script pipeline would first ask SCRIPT EXISTS, one more round trip.
        pipe = self._router.redis.pipeline(transaction=False)
        for call in calls:
            sha = self._router._scripts[call.script].sha
            pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
        return list(await pipe.execute(raise_on_error=False))

    async def execute(self) -> list[Any]:
        """Send every queued call in one round trip; the batch is empty afterwards."""
        calls, self._calls = self._calls, []
        if not calls:
            return []
        raws = await self._send(calls)
        for _ in range(2):
            # Calls refused before running (script cache flushed, configuration lost) did
            # nothing: repair and send just those again.
            retry = [
                i
                for i, raw in enumerate(raws)
                if isinstance(raw, NoScriptError) or missing_config(raw)
            ]
            if not retry:
                break
            if any(missing_config(raws[i]) for i in retry):
                await self._router._store_config()
            for name in {calls[i].script for i in retry if isinstance(raws[i], NoScriptError)}:
                script = self._router._scripts[name]
                script.sha = await self._router.redis.script_load(script.script)
            for i, raw in zip(retry, await self._send([calls[i] for i in retry]), strict=True):
                raws[i] = raw
        results: list[Any] = []
        for call, raw in zip(calls, raws, strict=True):
            if isinstance(raw, Exception):
                results.append(raw)
                continue
            try:
                results.append(call.finish(raw))
            except RoutingError as exc:
                results.append(exc)
        return results


__all__ = ["Batch"]
