"""`delivery.Client`: the send queue and writer task exist only while there is something to send,
and the bound, the overflow rule and the close sequence hold either way."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.core.delivery import SLOW_CLIENT_CLOSE, Client, ClientState


class Socket:
    """A fake socket side: records what was sent; `gate` holds each send until opened."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: list[tuple[int, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = fail

    async def send_text(self, frame: str) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionResetError("peer went away")
        self.sent.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


def make(socket: Socket, frames: int = 4, **kw: object) -> Client:
    return Client("visitor", socket.send_text, socket.close, queue_frames=frames, **kw)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_client_holds_no_queue_and_no_writer() -> None:
    socket = Socket()
    client = make(socket)
    assert not client.writing and client.queued == 0
    assert client.send("a") and client.send("b")
    assert client.writing and client.queued == 2
    await settle()
    assert socket.sent == ["a", "b"]
    assert not client.writing and client.queued == 0 and client.is_open
    # And again: a new writer for the next burst, frames still in order.
    for frame in "cde":
        client.send(frame)
    await settle()
    assert socket.sent == ["a", "b", "c", "d", "e"] and not client.writing


async def test_a_full_queue_closes_at_once_with_try_again_later() -> None:
    socket = Socket()
    socket.gate.clear()  # the peer reads nothing
    overflows: list[int] = []
    client = make(socket, frames=3, on_overflow=lambda: overflows.append(1))
    assert all(client.send(str(i)) for i in range(3))
    await settle()  # the writer took "0" and waits on the socket; "1", "2" are queued
    assert client.send("3")  # the queue holds 3 again
    assert not client.send("4")  # full: the client is closing
    assert overflows == [1] and client.state is ClientState.CLOSING
    assert client.close_code == SLOW_CLIENT_CLOSE
    assert not client.send("5")
    socket.gate.set()
    await settle()
    assert socket.sent == ["0"]  # what was queued is dropped, not sent late
    assert socket.closed == [(SLOW_CLIENT_CLOSE, "send queue full; reconnect and resume")]
    # Read afresh: mypy would keep `client.state` narrowed to CLOSING across the await.
    state: ClientState = client.state
    assert state is ClientState.CLOSED and not client.writing


async def test_closing_an_idle_client_sends_the_close_frame() -> None:
    socket = Socket()
    client = make(socket)
    await client.finish(peer_gone=False)
    assert socket.closed == [(1000, "")] and client.state is ClientState.CLOSED


async def test_a_requested_close_goes_out_after_what_is_queued() -> None:
    socket = Socket()
    client = make(socket)
    client.send("last words")
    client.begin_close(4000, "bye")
    assert not client.send("too late")
    await client.finish(peer_gone=False)
    assert socket.sent == ["last words"] and socket.closed == [(4000, "bye")]


async def test_a_gone_peer_stops_the_writer_without_a_close_frame() -> None:
    socket = Socket()
    socket.gate.clear()
    client = make(socket)
    client.send("x")
    await settle()
    await client.finish(peer_gone=True)
    assert socket.sent == [] and socket.closed == [] and client.state is ClientState.CLOSED
    assert not client.writing and not client.send("y")


async def test_a_failing_socket_marks_the_client_closed() -> None:
    socket = Socket(fail=True)
    client = make(socket)
    client.send("x")
    await settle()
    assert client.state is ClientState.CLOSED and not client.writing and not client.send("y")


async def test_wait_room_waits_until_the_queue_is_half_empty() -> None:
    socket = Socket()
    socket.gate.clear()
    client = make(socket, frames=4)
    for i in range(4):
        client.send(str(i))
    await settle()  # "0" is being sent, three queued: above half of 4
    waiter = asyncio.create_task(client.wait_room())
    await settle()
    assert not waiter.done()
    socket.gate.set()
    await asyncio.wait_for(waiter, 1)
    assert client.queued <= 2
    await client.wait_room()  # an idle client has room at once


async def test_the_queue_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_frames must be at least 1"):
        make(Socket(), frames=0)
