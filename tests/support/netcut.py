"""A TCP proxy a test can cut: a network outage between the browser and the hub, or between the
hub and Redis.

The browser (or the hub) talks to the other side only through it. `cut()` aborts every
connection and refuses new ones (what a dropped Wi-Fi looks like from both ends);
`mute_downstream()` keeps connections open but swallows what comes back (the ack of a message
is lost on the way); `restore()` lets traffic through again. Chromium's own offline emulation
does not close open WebSockets, so the tests use both. The proxy runs on the test's event loop:
start a hub process that talks through it off that loop (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib


class NetCut:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.down = False
        self.muted = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> NetCut:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cut(self) -> None:
        self.down = True
        for writer in list(self._writers):
            writer.transport.abort()

    def mute_downstream(self) -> None:
        self.muted = True

    def restore(self) -> None:
        self.down = False
        self.muted = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.down:
                return
            up_reader, upstream = await asyncio.open_connection(self.host, self.target_port)
            self._writers.add(upstream)
            await asyncio.gather(
                self._pipe(reader, upstream, downstream=False),
                self._pipe(up_reader, writer, downstream=True),
            )
        except OSError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()
                    with contextlib.suppress(BaseException):
                        await w.wait_closed()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if self.down:
                    break
                if downstream and self.muted:
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


class HostPage:
    """A web page on an origin of its own (another port), standing in for a customer's site."""

    def __init__(self, html: str, host: str = "127.0.0.1") -> None:
        self.html = html.encode()
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> HostPage:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(self.html)}\r\nConnection: close\r\n\r\n".encode()
                + self.html
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
