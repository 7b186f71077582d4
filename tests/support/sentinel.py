"""A private Redis that fails over, for tests: a master, its replicas and three sentinels
(`redis-server --sentinel`), each a process of its own on a free port, killable.

The sentinels are tuned to be quick: the master is judged down after `DOWN_AFTER_MS` without an
answer, two sentinels must agree (the quorum), and a failover that stalls is tried again after
twice `FAILOVER_TIMEOUT_MS`. On this machine a killed master is replaced in about 2–4 s.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer, free_port, redis_server_binary

#: The name the sentinels monitor the master by.
MASTER_NAME = "chat"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=2,
        socket_connect_timeout=2,
        decode_responses=True,
    )


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not within {timeout} s")


def _answers(port: int) -> bool:
    with _client(port) as c:
        return bool(c.ping())


def _in_sync(port: int) -> bool:
    """Whether the replica on ``port`` has finished its first sync with the master."""
    with _client(port) as c:
        info: dict[str, Any] = c.info("replication")
    return info.get("master_link_status") == "up"


def _sees(sentinel: SentinelServer, replicas: int, others: int) -> bool:
    state = sentinel.master()
    return int(state["num-slaves"]) == replicas and int(state["num-other-sentinels"]) == others


class SentinelServer:
    """One `redis-server --sentinel` on 127.0.0.1:<port>, watching ``master_port``. Its
    configuration file is its own (a sentinel rewrites it as it learns)."""

    def __init__(self, master_port: int, *, quorum: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sentinel-test-"))
        self.config = self.dir / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_server_binary(), str(self.config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(f"sentinel on port {self.port}", partial(_answers, self.port), 10)

    def master(self) -> dict[str, Any]:
        """What this sentinel knows of the master: ``ip``, ``port``, ``num-slaves``,
        ``num-other-sentinels``, ``is_sdown`` …"""
        with _client(self.port) as c:
            state: dict[str, Any] = c.sentinel_master(MASTER_NAME)
            return state

    def master_port(self) -> int:
        with _client(self.port) as c:
            address = c.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(address[1])

    def log(self) -> str:
        try:
            return (self.dir / "sentinel.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class FailoverRedis:
    """A master, ``replicas`` replicas of it and ``sentinels`` sentinels watching it.

    `env` is what a hub process needs to reach the master through the sentinels;
    `kill_master` SIGKILLs whichever server is the master now, and `wait_for_failover` returns
    once the sentinels name another one and it answers as a master."""

    def __init__(self, *, replicas: int = 1, sentinels: int = 3) -> None:
        # No 5 s wait for more replicas before a full sync (the default of diskless sync).
        self.servers = [RedisServer(args=("--repl-diskless-sync-delay", "0"))]
        for _ in range(replicas):
            self.servers.append(
                RedisServer(
                    args=(
                        "--replicaof",
                        "127.0.0.1",
                        str(self.servers[0].port),
                        "--repl-diskless-sync-delay",
                        "0",
                    )
                )
            )
        self.sentinels = [SentinelServer(self.servers[0].port) for _ in range(sentinels)]

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_SENTINELS": self.addresses, "REDIS_SENTINEL_MASTER": MASTER_NAME}

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for replica in self.servers[1:]:
            _wait(f"replica on port {replica.port} in sync", partial(_in_sync, replica.port), 20)
        for sentinel in self.sentinels:
            sentinel.start()
        # Ready when every sentinel knows the replicas and the other sentinels (they find each
        # other through the master's hello channel, every 2 s): only then can they agree.
        for sentinel in self.sentinels:
            try:
                _wait(
                    f"sentinel on port {sentinel.port} sees the others",
                    partial(_sees, sentinel, len(self.servers) - 1, len(self.sentinels) - 1),
                    30,
                )
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; sentinel logs:\n{self.logs()}") from None

    def master_port(self) -> int:
        """The master's port, as the first sentinel that answers says."""
        for sentinel in self.sentinels:
            if sentinel.proc is None:
                continue
            try:
                return sentinel.master_port()
            except (redis.RedisError, OSError):
                continue
        raise RuntimeError("no sentinel answers")

    def server_on(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def kill_master(self) -> int:
        """SIGKILL the master (no goodbye to its clients, no last replication); its port."""
        port = self.master_port()
        self.server_on(port).kill()
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until every sentinel names a master other than ``old_port`` and that server
        answers as a master; its port."""

        def promoted() -> bool:
            ports = {s.master_port() for s in self.sentinels if s.proc is not None}
            if len(ports) != 1 or old_port in ports:
                return False
            with _client(ports.pop()) as c:
                return bool(c.execute_command("ROLE")[0] == "master")

        try:
            _wait("failover", promoted, timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; sentinel logs:\n{self.logs()}") from None
        return self.master_port()

    def logs(self) -> str:
        return "\n".join(f"-- sentinel {s.port}\n{s.log()}" for s in self.sentinels)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> FailoverRedis:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["MASTER_NAME", "FailoverRedis", "SentinelServer"]
