"""A load-generator process (``python -m bench._loadgen_child``, started by
``bench._loadgen.Generator``): it connects back to the parent over the Unix socket it is given
and runs each command it receives — the relay workload (``bench._loadgen_relay.Relay``), idle
connections, its own CPU and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import traceback
from collections import Counter
from multiprocessing.connection import Client
from multiprocessing.connection import Connection as Pipe
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench._loadgen_relay import CONNECT, Relay, _cpu_s, _expect, clock


def main(argv: list[str]) -> None:
    address, _name = argv  # the name is there for `ps`
    key = bytes.fromhex(os.environ.pop("BENCH_LOADGEN_KEY"))
    with Client(address, family="AF_UNIX", authkey=key) as pipe:
        asyncio.run(_serve(pipe))


async def _serve(pipe: Pipe) -> None:
    loop = asyncio.get_running_loop()
    child = Child()
    while True:
        try:
            command, args = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            command, args = "exit", {}
        if command == "exit":
            await child.shutdown()
            return
        try:
            value = await getattr(child, command)(**args)
            pipe.send(("ok", value))
        except Exception:
            pipe.send(("error", traceback.format_exc()))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class Child(Relay):
    """What a generator process does: each command is the coroutine of that name."""

    def __init__(self) -> None:
        super().__init__()
        self.idle: list[ClientConnection] = []

    # -- generic ------------------------------------------------------------------------------
    async def usage(self) -> dict[str, Any]:
        return {"cpu_s": _cpu_s(), "rss_bytes": _rss_bytes(), "wall": clock()}

    async def raise_fd_limit(self, want: int) -> int:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = max(soft, want)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    async def shutdown(self) -> None:
        for task in self.readers:
            task.cancel()
        for sock in self.socks:
            sock.ws.transport.abort()
        for ws in self.idle:
            ws.transport.abort()
        self.socks.clear()
        self.idle.clear()

    # -- idle connections --------------------------------------------------------------------
    async def idle_open(
        self,
        url: str,
        count: int,
        hello: str,
        expect: str,
        sources: list[str],
        concurrency: int = 200,
    ) -> dict[str, Any]:
        """Open ``count`` WebSockets, each sending ``hello`` (``{i}`` → its number) and waiting
        for a frame of type ``expect``; keep them open and unread."""
        started, cpu0 = clock(), _cpu_s()
        gate = asyncio.Semaphore(concurrency)
        failures: Counter[str] = Counter()
        base = len(self.idle)

        async def one(i: int) -> None:
            async with gate:
                try:
                    ws = await connect(
                        url,
                        local_addr=(sources[i % len(sources)], 0),
                        **CONNECT,  # type: ignore[arg-type]
                    )
                except Exception as exc:
                    failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return
                try:
                    await ws.send(hello.replace("{i}", str(base + i)))
                    await _expect(ws, expect)
                except Exception as exc:
                    failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    ws.transport.abort()
                    return
                self.idle.append(ws)

        await asyncio.gather(*(one(i) for i in range(count)))
        return {
            "opened": len(self.idle) - base,
            "failed": sum(failures.values()),
            "failures": dict(failures.most_common(3)),
            "seconds": round(clock() - started, 2),
            "cpu_s": round(_cpu_s() - cpu0, 2),
        }

    async def idle_alive(self) -> int:
        """How many idle connections are still open."""
        return sum(1 for ws in self.idle if ws.protocol.state.name == "OPEN")

    async def idle_close(self) -> None:
        for ws in self.idle:
            ws.transport.abort()
        self.idle.clear()


if __name__ == "__main__":
    main(sys.argv[1:])
