"""The load generator: an OS process of its own, driven by the benchmark over a Unix socket.

The benchmark (the parent) starts one or more :class:`Generator` processes (``python -m
bench._loadgen_child``, which connects back to it) and tells each what to do with
:meth:`Generator.call`: set up conversations on the hub or on the bare relay, run a fixed-rate
step, open idle connections, report its own CPU. A child keeps its WebSockets between calls, so
one set-up serves a whole rate ramp. The clients are the ``websockets`` asyncio client, per-message
deflate off.

Load is **open loop**: message *k* of a step is due at ``t0 + k / rate`` whatever the server
answers, and every latency is measured from that due time, not from when the generator got
round to sending it — a generator or server that falls behind shows up in the figures instead
of quietly slowing the load down. How late the generator itself was is reported too
(``send_lag_p99_ms``), with its CPU time, so a saturated generator is visible.

Message *k* of a step goes to conversation ``k % N``: from the visitor when ``(k // N)`` is even,
from the agent when it is odd — half the messages each way, each conversation at ``rate / N``.
Its ``client_id`` is ``"<step>-<k>"``, so any frame that comes back names its message without a
lookup. Per message the child records the ack, every delivery to the *other* side (the hub also
echoes a message to its sender; the echo is not a delivery), and the ``seq`` order per socket and
conversation. ``lost`` = acked but not delivered to the peer within the grace period (then the
child waits, bounded, while a backlog still drains: ``late`` were delivered after the grace
period, ``never_delivered`` never were); ``duplicated`` = deliveries beyond the first.

Every pair of a conversation (visitor socket, agent socket) lives in one child, so latencies are
taken on one clock; with several children each uses its own topic and its own agents, which keeps
the router from pairing a visitor of one child with an agent of another.

This module is the parent's side (:class:`Generator`, :func:`call_all`); the child process is
``bench/_loadgen_child.py`` (its commands and the idle connections), which runs the relay
workload of ``bench/_loadgen_relay.py`` (set-up, fixed-rate steps, the receiving side).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

# ~150 bytes of chat text, as the issue asks.
TEXT = (
    "Hello! I was charged twice for my subscription this month and would like a refund for the "
    "second payment, please. My order number is 4711-0815-2024."
)
assert 145 <= len(TEXT.encode()) <= 155, len(TEXT.encode())


class GeneratorError(RuntimeError):
    """A command failed inside a generator process; the message carries its traceback."""


# -- the parent's side -----------------------------------------------------------------------


class Generator:
    """One load-generator process (``python -m bench._loadgen_child``) and the connection that drives
    it: a Unix socket with an auth key, ``multiprocessing.connection`` framing."""

    def __init__(self, name: str) -> None:
        self.name = name
        authkey = secrets.token_bytes(16)
        with Listener(family="AF_UNIX", authkey=authkey) as listener:
            env = {**os.environ, "BENCH_LOADGEN_KEY": authkey.hex()}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench._loadgen_child", str(listener.address), name],
                env=env,
                cwd=Path(__file__).resolve().parent.parent,
            )
            self._pipe = _accept(listener, self.process, timeout=30.0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(self, command: str, **args: Any) -> None:
        self._pipe.send((command, args))

    def result(self, timeout: float = 600.0) -> Any:
        if not self._pipe.poll(timeout):
            raise GeneratorError(f"{self.name}: no answer within {timeout:.0f} s")
        status, value = self._pipe.recv()
        if status != "ok":
            raise GeneratorError(f"{self.name}: {value}")
        return value

    def call(self, command: str, **args: Any) -> Any:
        self.request(command, **args)
        return self.result()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(("exit", {}))
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._pipe.close()


def _accept(listener: Listener, process: subprocess.Popen[bytes], timeout: float) -> Pipe:
    """Accept the child's connection, unless it dies or does not call within ``timeout``."""
    result: list[Pipe] = []
    thread = threading.Thread(target=lambda: result.append(listener.accept()), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline and process.poll() is None:
        thread.join(0.05)
    if not result:
        process.kill()
        process.wait()
        raise GeneratorError(f"the load generator did not start (exit status {process.poll()})")
    return result[0]


def call_all(generators: list[Generator], command: str, args: list[dict[str, Any]]) -> list[Any]:
    """Run one command in every generator at once; their results in order."""
    for gen, a in zip(generators, args, strict=True):
        gen.request(command, **a)
    return [gen.result() for gen in generators]


__all__ = ["TEXT", "Generator", "GeneratorError", "call_all"]
