"""uvicorn's ``websockets-sansio`` WebSocket protocol with a high-water mark on received messages.

uvicorn's protocol stops reading a socket after every complete message it hands to the
application (``transport.pause_reading()``) and starts again once the application has taken
everything queued (``resume_reading()``): two ``epoll_ctl`` calls per message received. For a
hub relaying thousands of messages a second that was ~14 % of the event loop's time (profile
in docs/benchmarks.md). `HubWebSocketProtocol` keeps uvicorn's protocol and its back-pressure
but pauses only once `HIGH_WATER` messages are waiting for the application; it resumes, as
uvicorn does, when the application has emptied the queue. A client can therefore have at most
`HIGH_WATER` messages (each at most ``ws_max_size`` bytes) queued in the hub, and a hub that
keeps up — every real client, and every benchmark client below saturation — never pauses.

The override copies one method of uvicorn's class with one condition changed;
``tests/chatserver/test_wsprotocol.py`` checks that the installed uvicorn's method is still
the one this was written against, so an upgrade that changes it fails a test instead of
silently running an outdated copy.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chatserver.web.connections import LIMITS, client_host

__all__ = ["HIGH_WATER", "HubWebSocketProtocol"]

#: Messages a connection may have waiting for the application before reading stops: enough
#: that a hub keeping up never pauses (16 measured no faster), few enough that a client flooding
#: an overloaded hub holds at most 4 × ``ws_max_size`` bytes of it (256 KiB at the defaults).
HIGH_WATER = 4


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """`WebSocketsSansIOProtocol` that pauses reading at `HIGH_WATER` queued messages, and
    gives its connection back to the caps (chatserver.web.connections) when it ends."""

    def connection_lost(self, exc: Exception | None) -> None:
        LIMITS.release(client_host(self.client))
        super().connection_lost(exc)

    def send_receive_event_to_app(self) -> None:
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            # The app is past `websocket.close`: discard the message rather than queueing
            # it, so reads stay active until the peer's close reply arrives.
            return
        if self.curr_msg_data_type == "text":
            try:
                self.queue.put_nowait({"type": "websocket.receive", "text": data.decode()})
            except UnicodeDecodeError:  # pragma: no cover
                self.logger.exception("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data})
        # uvicorn: `if not self.read_paused:` — pause after every message.
        if not self.read_paused and self.queue.qsize() >= HIGH_WATER:
            self.read_paused = True
            self.transport.pause_reading()
