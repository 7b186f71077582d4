"""`HubWebSocketProtocol`: uvicorn's websockets-sansio protocol, paused at a high-water mark.

The override is one method of uvicorn's copied with one condition changed, so the first test
pins the upstream method it was written against: an upgrade that changes it fails here and the
copy must be checked again. The others drive the real protocol's receive path (the override
and uvicorn's own ``receive``) with a transport that records pause and resume calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import textwrap

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chatserver.web.wsprotocol import HIGH_WATER, HubWebSocketProtocol

#: sha256 of `WebSocketsSansIOProtocol.send_receive_event_to_app`'s source in uvicorn 0.54.0.
UPSTREAM_SHA256 = "935390da9a9c065fbc41a88ece5dd3dd9fc54e2c9aeec04bcc56b8793e8798c1"


def test_the_copied_method_is_still_uvicorns() -> None:
    source = textwrap.dedent(inspect.getsource(WebSocketsSansIOProtocol.send_receive_event_to_app))
    assert hashlib.sha256(source.encode()).hexdigest() == UPSTREAM_SHA256, (
        "uvicorn's send_receive_event_to_app changed: compare it with "
        "chatserver/web/wsprotocol.py, bring the copy up to date and update UPSTREAM_SHA256"
    )


class RecordingTransport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def receiving_protocol() -> tuple[HubWebSocketProtocol, RecordingTransport]:
    """The protocol's receive-side state as uvicorn sets it up for an open connection."""
    protocol = object.__new__(HubWebSocketProtocol)
    transport = RecordingTransport()
    protocol.transport = transport  # type: ignore[assignment]
    protocol.queue = asyncio.Queue()
    protocol.read_paused = False
    protocol.close_sent = False
    protocol.frames = []
    return protocol, transport


def deliver(protocol: HubWebSocketProtocol, text: str) -> None:
    protocol.curr_msg_data_type = "text"
    protocol.frames = [text.encode()]
    protocol.send_receive_event_to_app()


async def received_text(protocol: HubWebSocketProtocol) -> str | None:
    """The text of the next message the application receives."""
    message = await protocol.receive()
    assert message["type"] == "websocket.receive"
    return message["text"]


async def test_reading_goes_on_below_the_high_water_mark() -> None:
    protocol, transport = receiving_protocol()
    for n in range(HIGH_WATER - 1):
        deliver(protocol, f"m{n}")
    assert transport.calls == []  # uvicorn itself would have paused after the first
    assert protocol.read_paused is False
    received = [await received_text(protocol) for _ in range(HIGH_WATER - 1)]
    assert received == [f"m{n}" for n in range(HIGH_WATER - 1)]
    assert transport.calls == []


async def test_reading_pauses_at_the_mark_and_resumes_once_the_app_has_caught_up() -> None:
    protocol, transport = receiving_protocol()
    for n in range(HIGH_WATER):
        deliver(protocol, f"m{n}")
    assert transport.calls == ["pause"]
    assert protocol.read_paused is True
    deliver(protocol, "already in the parser's hands")  # arrives in the same read: queued
    assert transport.calls == ["pause"]
    for _ in range(HIGH_WATER):
        await protocol.receive()
        assert transport.calls == ["pause"]  # not yet empty
    last = await received_text(protocol)
    assert last == "already in the parser's hands"
    assert transport.calls == ["pause", "resume"]
    assert protocol.read_paused is False


async def test_binary_messages_and_a_closing_connection() -> None:
    protocol, transport = receiving_protocol()
    protocol.curr_msg_data_type = "bytes"
    protocol.frames = [b"\x00\x01", b"\x02"]
    protocol.send_receive_event_to_app()
    assert (await protocol.receive()) == {"type": "websocket.receive", "bytes": b"\x00\x01\x02"}
    protocol.close_sent = True  # past websocket.close: dropped, reading is not paused
    for _ in range(HIGH_WATER + 1):
        deliver(protocol, "late")
    assert protocol.queue.empty()
    assert transport.calls == []
