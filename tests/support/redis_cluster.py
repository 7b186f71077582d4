"""A private Redis Cluster for tests: ``masters`` masters sharing the 16,384 slots in equal
ranges (and ``replicas`` replicas of each), every node a `RedisServer` of its own with
``--cluster-enabled yes`` on a port whose cluster bus port (port + 10,000) is free too.

The cluster is built by hand, as ``redis-cli --cluster create`` does it (which refuses fewer
than three masters): a distinct config epoch and a slot range for each master, ``CLUSTER MEET``
between every two nodes, ``CLUSTER REPLICATE`` for the replicas; ready when every node says
``cluster_state:ok``, knows every other node and sees the same owner for every slot, and every
replica is in sync. About two seconds, one node or six: a new master takes no writes in its
first two (Redis's own wait, for a cluster to reconfigure before a restarted master rejoins).

`begin_migration` moves a slot to another master while clients use it, in the documented
steps (``SETSLOT IMPORTING`` / ``MIGRATING``, ``MIGRATE … KEYS`` in chunks, ``SETSLOT NODE``);
`failover` promotes a replica the way ``CLUSTER FAILOVER`` does it (no write lost).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import redis

from tests.support.redis_server import RedisServer

SLOTS = 16_384
#: Client ports for cluster nodes, chosen so that port and bus port (port + 10,000) both stay
#: below the kernel's ephemeral range (32768-60999 here), like `redis_server.SERVER_PORTS`.
CLUSTER_PORTS = range(20_000, 22_000)
BUS_OFFSET = 10_000
#: Long enough that a node busy on the loaded 2-core machine is never judged failed by the
#: others (failovers here are asked for, not detected).
NODE_TIMEOUT_MS = 5000


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = random.choice(CLUSTER_PORTS)
        try:
            for p in (port, port + BUS_OFFSET):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free port pair for a cluster node in {CLUSTER_PORTS}")


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=5,
        socket_connect_timeout=2,
        decode_responses=True,
    )


def wait_until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {timeout} s")


@dataclass(frozen=True, slots=True)
class Node:
    """One line of ``CLUSTER NODES``: a node as some node sees it."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    linked: bool
    #: Slot ranges (first, last) it owns; empty for a replica.
    ranges: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.ranges)


def parse_nodes(text: str) -> list[Node]:
    """``CLUSTER NODES``, as `Node` values (open slots, ``[slot->-id]``, are left out)."""
    nodes = []
    for line in text.strip().splitlines():
        node_id, address, flags, master, _ping, _pong, _epoch, link, *slots = line.split()
        ranges = []
        for part in slots:
            if part.startswith("["):
                continue
            first, _, last = part.partition("-")
            ranges.append((int(first), int(last or first)))
        nodes.append(
            Node(
                node_id=node_id,
                port=int(address.split("@")[0].rsplit(":", 1)[1]),
                flags=frozenset(flags.split(",")) - {"myself"},
                master_id=None if master == "-" else master,
                linked=link == "connected",
                ranges=tuple(ranges),
            )
        )
    return nodes


class LocalCluster:
    """``masters`` masters (slot ranges in equal parts, in port order) with ``replicas``
    replicas each; `ports` are every node's, `masters_now` says who is a master at present."""

    def __init__(self, *, masters: int = 3, replicas: int = 0) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master and no negative replicas")
        args = (
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            # No 5 s wait for more replicas before a full sync (the default of diskless sync).
            "--repl-diskless-sync-delay",
            "0",
        )
        self.servers = [
            RedisServer(cluster_port(), args=args) for _ in range(masters * (1 + replicas))
        ]
        self.n_masters = masters
        self.ids: dict[int, str] = {}

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def startup_port(self) -> int:
        """A node to give a cluster client first (it learns the others from it)."""
        return self.servers[0].port

    # -- building ---------------------------------------------------------------------------

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for port in self.ports:
            with _client(port) as c:
                self.ids[port] = str(c.execute_command("CLUSTER", "MYID"))
        masters, replicas = self.ports[: self.n_masters], self.ports[self.n_masters :]
        bounds = [SLOTS * i // self.n_masters for i in range(self.n_masters + 1)]
        for i, port in enumerate(masters):
            with _client(port) as c:
                c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
        # Every node meets every other: no waiting for gossip to spread the news (~2 s).
        for port in self.ports:
            with _client(port) as c:
                for other in self.ports:
                    if other != port:
                        c.execute_command("CLUSTER", "MEET", "127.0.0.1", other)
        for i, port in enumerate(replicas):
            master_id = self.ids[masters[i % self.n_masters]]
            wait_until(f"node {port} knows its master", partial(self._knows, port, master_id))
            with _client(port) as c:
                c.execute_command("CLUSTER", "REPLICATE", master_id)
        wait_until("the cluster is formed", self.ready)

    def _knows(self, port: int, node_id: str) -> bool:
        return any(n.node_id == node_id for n in self.nodes(port))

    def ready(self) -> bool:
        """Every node: state ok, every other node known and linked, the same slot owners as
        the others; every replica in sync with its master."""
        views = set()
        for port in self.ports:
            with _client(port) as c:
                info = c.execute_command("CLUSTER", "INFO")
                if "cluster_state:ok" not in info:
                    return False
                nodes = self.nodes(port)
                if len(nodes) != len(self.servers) or not all(n.linked for n in nodes):
                    return False
                if any(f in n.flags for n in nodes for f in ("handshake", "noaddr", "fail?")):
                    return False
                views.add(frozenset((n.port, n.ranges) for n in nodes if n.is_master))
                role = c.execute_command("ROLE")
                if role[0] == "slave" and role[3] != "connected":
                    return False
        masters = next(iter(views))
        return len(views) == 1 and len(masters) == self.n_masters

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill every node (nothing of theirs is worth a clean shutdown) and remove its folder."""
        for server in self.servers:
            server.kill()
            server.stop()

    # -- looking ----------------------------------------------------------------------------

    def nodes(self, port: int | None = None) -> list[Node]:
        """The cluster as the node on ``port`` (default: the first) sees it."""
        with _client(port or self.startup_port) as c:
            return parse_nodes(str(c.execute_command("CLUSTER", "NODES")))

    def masters_now(self) -> list[int]:
        """The ports of the masters that own slots now, in port order."""
        return sorted(n.port for n in self.nodes() if n.is_master and n.ranges)

    def owner(self, slot: int) -> int:
        """The port of the master that owns ``slot`` now."""
        return next(n.port for n in self.nodes() if n.is_master and n.owns(slot))

    @staticmethod
    def keys(port: int) -> list[str]:
        """Every key the node on ``port`` holds (``SCAN`` to the end)."""
        with _client(port) as c:
            return sorted(str(k) for k in c.scan_iter(count=1000))

    @staticmethod
    def keyslots(port: int, keys: list[str]) -> set[int]:
        """The slots of ``keys``, as the server on ``port`` computes them (``CLUSTER
        KEYSLOT``)."""
        with _client(port) as c:
            return {int(c.execute_command("CLUSTER", "KEYSLOT", key)) for key in keys}

    @staticmethod
    def answered(port: int, error: str) -> int:
        """How many commands the node on ``port`` has answered with ``error`` (``INFO
        errorstats``): ``TRYAGAIN``, a multi-key command whose keys a slot being migrated
        splits; ``MOVED``, a command for a slot the node does not own (any more)."""
        with _client(port) as c:
            stats = c.info("errorstats")
        return int(stats.get(f"errorstat_{error}", {}).get("count", 0))

    # -- changing ---------------------------------------------------------------------------

    def begin_migration(self, slot: int, to_port: int) -> Migration:
        """Open ``slot`` for a move from its owner to the master on ``to_port``: the source
        answers ``ASK`` for keys it no longer has, and ``TRYAGAIN`` to a multi-key command
        whose keys are split between the two, until `Migration.finish`."""
        from_port = self.owner(slot)
        if from_port == to_port:
            raise ValueError(f"slot {slot} is on {to_port} already")
        with _client(to_port) as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.ids[from_port])
        with _client(from_port) as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.ids[to_port])
        return Migration(self, slot, from_port, to_port)

    def _agree(self, slot: int, port: int) -> bool:
        for p in self.ports:
            owners = [n.port for n in self.nodes(p) if n.is_master and n.owns(slot)]
            if owners != [port]:
                return False
        return True

    def replica_of(self, master_port: int) -> int:
        master_id = self.ids[master_port]
        return next(n.port for n in self.nodes() if n.master_id == master_id)

    def failover(self, master_port: int) -> int:
        """Promote a replica of the master on ``master_port`` (``CLUSTER FAILOVER``: the master
        stops taking writes, the replica catches up, then takes over); the new master's port,
        once every node names it the owner of the old master's slots (tens of milliseconds;
        the old master's resync as its replica follows within a few seconds)."""
        slots = [first for first, _ in self._ranges(master_port)]
        replica = self.replica_of(master_port)
        with _client(replica) as c:
            c.execute_command("CLUSTER", "FAILOVER")

        def promoted() -> bool:
            with _client(replica) as c:
                if c.execute_command("ROLE")[0] != "master":
                    return False
            return all(self._agree(slot, replica) for slot in slots)

        wait_until(f"replica {replica} takes over from {master_port}", promoted)
        return replica

    def _ranges(self, port: int) -> tuple[tuple[int, int], ...]:
        return next(n.ranges for n in self.nodes() if n.port == port)


class Migration:
    """A slot on its way from the master on ``from_port`` to the one on ``to_port``."""

    def __init__(self, cluster: LocalCluster, slot: int, from_port: int, to_port: int) -> None:
        self.cluster = cluster
        self.slot = slot
        self.from_port = from_port
        self.to_port = to_port

    def move(self, n: int) -> int:
        """Move up to ``n`` of the slot's keys (``MIGRATE … KEYS``); how many moved."""
        with _client(self.from_port) as c:
            keys = c.execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, n)
            if keys:
                c.execute_command("MIGRATE", "127.0.0.1", self.to_port, "", 0, 5000, "KEYS", *keys)
        return len(keys)

    def finish(self) -> None:
        """Move every key left, then give the slot to the target: on the target first, then
        the source, then the other masters (the documented order; replicas learn it from
        their masters). Returns once every node sees the new owner."""
        while self.move(100):
            pass
        cluster, to_id = self.cluster, self.cluster.ids[self.to_port]
        others = [p for p in cluster.masters_now() if p not in (self.to_port, self.from_port)]
        for port in [self.to_port, self.from_port, *others]:
            with _client(port) as c:
                c.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", to_id)
        wait_until(
            f"every node sees slot {self.slot} on {self.to_port}",
            partial(cluster._agree, self.slot, self.to_port),
        )


__all__ = ["LocalCluster", "Migration", "Node", "cluster_port", "parse_nodes", "wait_until"]
