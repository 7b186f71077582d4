"""The processes a benchmark measures: a private Redis, hub processes, the bare relay.

Also the figures read from outside a process (psutil): CPU seconds and resident memory, so the
server's, Redis's and the generators' shares of the machine are reported side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chatserver.core.accounts import hash_password
from chatserver.store.base import AgentRecord, iso_now
from chatserver.store.sqlite import SQLiteStore
from tests.support.redis_server import RedisServer, free_port
from tests.support.server import ServerProcess

# Raised for every benchmark run, and printed with the results: the hub's per-connection rate
# limit (10 frames/s, bursts of 20) would otherwise drop the load an agent socket carries.
HUB_ENV = {
    "CHATSERVER_RATE_PER_S": "1000000",
    "CHATSERVER_RATE_BURST": "1000000",
    "CHATSERVER_LOG_LEVEL": "WARNING",
    "CHATSERVER_TICK_INTERVAL_S": "0.5",  # the default (the test support sets 0.2)
    "CHATSERVER_REDIS_PREFIX": "{bench}",
    # The load comes from a handful of loopback addresses: past the per-address cap otherwise.
    "CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
    "CHATSERVER_NEW_VISITORS_PER_MINUTE": "1000000",
}
PER_MESSAGE_DEFLATE = "off (chatserver/cli.py serves with ws_per_message_deflate=False)"
TOPICS = ["general", "billing", "account", "technical"]  # one per generator process


def raise_fd_limit(want: int) -> int:
    """Raise this process's open-file limit (inherited by the servers and generators it starts)
    to at least ``want`` if allowed; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def open_files(pid: int) -> tuple[int, int]:
    """(soft RLIMIT_NOFILE, descriptors open now) of a process."""
    proc = psutil.Process(pid)
    return int(proc.rlimit(psutil.RLIMIT_NOFILE)[0]), int(proc.num_fds())


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


class CPUMeter:
    """CPU time of some processes over a stretch of wall time, as % of one core."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.started = time.perf_counter()
        self.cpu0 = cpu_seconds(pids)

    def pct(self) -> float:
        wall = time.perf_counter() - self.started
        return round(100 * (cpu_seconds(self.pids) - self.cpu0) / max(wall, 1e-9), 1)


def wait_http_ok(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with opener.open(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


class BareRelay:
    """``python -m bench._bare_relay`` on a free port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"bare-relay-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> BareRelay:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench._bare_relay", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
            )
        wait_http_ok(f"http://127.0.0.1:{self.port}/readyz", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class HubStack:
    """A private Redis, the agents in the store, and ``processes`` hub processes on them."""

    data_dir: Path
    processes: int = 1
    agents: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # topic → logins
    redis: RedisServer | None = None
    servers: list[ServerProcess] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # on top of HUB_ENV

    def start(self, agents_per_topic: dict[str, int], capacity: int) -> HubStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(self._add_agents(agents_per_topic, capacity))
        self.redis = RedisServer()
        self.redis.start()
        for i in range(self.processes):
            server = ServerProcess(
                self.data_dir, self.redis.url, env={**HUB_ENV, **self.env}, node_id=f"bench-{i}"
            )
            server.start(timeout=60)
            self.servers.append(server)
        return self

    async def _add_agents(self, agents_per_topic: dict[str, int], capacity: int) -> None:
        password = secrets.token_urlsafe(12)
        hashed = hash_password(password)  # one argon2 hash, shared: it is slow on purpose
        store = SQLiteStore(self.data_dir / "chat.db")
        await store.open()
        try:
            for topic, count in agents_per_topic.items():
                logins = self.agents.setdefault(topic, [])
                for i in range(count):
                    username = f"bench-{topic}-{i}"
                    await store.add_agent(
                        AgentRecord(
                            id=uuid.uuid4().hex,
                            username=username,
                            display_name=f"Agent {topic} {i}",
                            password_hash=hashed,
                            skills={topic: 3, "en": 3},
                            capacity=capacity,
                            roles=("agent",),
                            disabled=False,
                            created_at=iso_now(),
                        )
                    )
                    logins.append((username, password))
        finally:
            await store.close()

    @property
    def hub_pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    @property
    def redis_pid(self) -> int:
        assert self.redis is not None and self.redis.proc is not None
        return self.redis.proc.pid

    def tracebacks(self) -> list[str]:
        return [s.output() for s in self.servers if "Traceback" in s.output()]

    def stop(self) -> None:
        for server in self.servers:
            if server.proc is not None:
                server.proc.kill()  # nothing to keep: a graceful drain of 20,000 sockets is slow
                server.proc.wait()
                server.proc = None
            server.stop()
        if self.redis is not None:
            self.redis.stop()


def percentile_ms(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values`` in seconds, as milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))
    return round(ordered[index] * 1000, 2)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


__all__ = [
    "HUB_ENV",
    "PER_MESSAGE_DEFLATE",
    "TOPICS",
    "BareRelay",
    "CPUMeter",
    "HubStack",
    "cpu_seconds",
    "load_average",
    "open_files",
    "percentile_ms",
    "raise_fd_limit",
    "rss_bytes",
    "wait_http_ok",
]
