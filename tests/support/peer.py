"""A real WebSocket client speaking the chat protocol, for integration tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin


class Peer:
    def __init__(self, url: str, *, origin: str | None = None, address: str | None = None) -> None:
        self.url = url
        self.origin = origin
        self.address = address  # the client's own address (127.0.0.2, …), when not the default
        self.ws: ClientConnection | None = None
        self.inbox: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def connect(self) -> Peer:
        origin = Origin(self.origin) if self.origin else None
        if self.address:
            self.ws = await connect(
                self.url,
                origin=origin,
                max_size=2**20,
                open_timeout=5,
                local_addr=(self.address, 0),
            )
        else:
            self.ws = await connect(self.url, origin=origin, max_size=2**20, open_timeout=5)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.inbox.append(orjson.loads(raw))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
            else:
                self.close_code = 1006
            self._arrived.set()

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        if isinstance(frame, dict):
            await self.ws.send(orjson.dumps(frame).decode())
        else:
            await self.ws.send(frame)

    async def expect(self, type_: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """Wait for (and consume) the first frame of this type whose fields match."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                    del self.inbox[i]
                    return frame
            if self.closed:
                raise AssertionError(
                    f"closed ({self.close_code}) while waiting for {type_} {match}; inbox: {self.inbox}"
                )
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {type_} {match} within {timeout}s; inbox: {self.inbox}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def answer(self, frame: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send ``frame`` (with a ``ref``) and return the frame that answers it, whatever it is."""
        ref = frame.setdefault("ref", uuid.uuid4().hex[:12])
        await self.send(frame)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, f in enumerate(self.inbox):
                if f.get("ref") == ref:
                    del self.inbox[i]
                    return f
            if self.closed:
                raise AssertionError(f"closed ({self.close_code}) waiting for reply to {frame}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no reply to {frame} within {timeout}s; inbox: {self.inbox}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def request(
        self, frame: dict[str, Any], expect: str = "ack", timeout: float = 5.0
    ) -> dict[str, Any]:
        f = await self.answer(frame, timeout)
        if f.get("type") != expect:
            raise AssertionError(f"expected {expect} for {frame['type']}, got {f}")
        return f

    async def until_answered(
        self, frame: dict[str, Any], expect: str = "ack", attempts: int = 20
    ) -> dict[str, Any]:
        """Send ``frame`` again while the hub answers `unavailable`, as the widget and the
        console do (a short back-off between tries); return the ``expect`` answer."""
        for attempt in range(attempts):
            f = await self.answer(dict(frame), timeout=15)
            if f.get("type") == "error" and f.get("code") == "unavailable":
                await asyncio.sleep(0.05 * 2 ** min(attempt, 4))  # the client's back-off
                continue
            if f.get("type") != expect:
                raise AssertionError(f"expected {expect} for {frame['type']}, got {f}")
            return f
        raise AssertionError(f"{frame['type']} still unavailable after {attempts} tries")

    def take(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        got = [
            f
            for f in self.inbox
            if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())
        ]
        self.inbox = [f for f in self.inbox if f not in got]
        return got

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
