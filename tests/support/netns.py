"""Hosts made of Linux network namespaces: several machines on one private network, for tests
of a hub spread over hosts (a hub on each of three, PostgreSQL on a fourth, Redis on a fifth).

Layout. Each host is a network namespace of its own with ``lo`` up and one interface, ``eth0``,
the end of a veth pair whose other end is a port of a bridge. The bridge lives in a namespace of
its own too (the "switch"), so the root namespace's firewall (``bridge-nf-call-iptables``)
never sees the hosts' traffic and nothing of a run is left in the root namespace but one veth,
``cs<run>r``, whose peer is the switch's uplink port: it gives the test process (which stays in
the root namespace, with its event loop and WebSocket clients) an address on the same network,
``.1``; the hosts are ``.10``, ``.11``, … in the order given.

Subnet. A /24 in 10.231.0.0/16 that no address or route of the root namespace overlaps, drawn at
random, so two runs side by side (two test workers) get different ones (two that drew the same
one at the same moment both see it and draw again).

Names. Every namespace of a run is ``csn-<pid>-<run>-<host>``: the pid of the test process
that made it and a random run id, so parallel runs never clash. `Network.close` removes
everything (it kills what still runs inside, then deletes the namespaces, which takes their
interfaces, the root namespace's veth included); `sweep` removes what a crashed earlier run left
behind: every ``csn-`` namespace whose pid is no longer alive.

Cutting a host's link (`Network.cut`) sets its switch port down: the host's ``eth0`` loses its
carrier, as a pulled cable or a failed switch would do it. Nothing is closed or reset; the
processes on the host stay up, their connections just stop carrying anything, from both ends.
`Network.restore` sets the port up again.

Needs root and ``ip`` (iproute2) with ``ip netns``; `unavailable` says why not, for a skip.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["PREFIX", "Network", "sweep", "unavailable"]

PREFIX = "csn-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-([0-9a-f]+)-")
_POOL = ipaddress.IPv4Network("10.231.0.0/16")
_HOST = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def unavailable() -> str | None:
    """Why namespaces cannot be made here (for ``pytest.skip``), or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) on PATH"
    probe = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _namespaces() -> list[str]:
    listed = _ip("-j", "netns", "list", check=False).stdout.strip()
    return [str(n["name"]) for n in json.loads(listed or "[]")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(namespace: str) -> None:
    """Kill what runs in the namespace (it would keep it, and its interfaces, alive), delete it."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = _ip("netns", "pids", namespace, check=False).stdout.split()
        if pids:
            time.sleep(0.02)
    _ip("netns", "del", namespace, check=False)


def sweep() -> list[str]:
    """Remove the namespaces of runs whose test process is gone; returns their names."""
    swept = []
    for name in _namespaces():
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _remove(name)
            swept.append(name)
    return swept


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 10.231.0.0/16 that nothing in the root namespace uses (address or route)."""
    used: list[ipaddress.IPv4Network] = []
    for route in json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(dst, strict=False))
    for link in json.loads(_ip("-j", "-4", "addr").stdout or "[]"):
        for info in link.get("addr_info", []):
            local = f"{info['local']}/{info['prefixlen']}"
            used.append(ipaddress.IPv4Network(local, strict=False))
    candidates = list(_POOL.subnets(new_prefix=24))
    random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise RuntimeError(f"every /24 of {_POOL} is in use in the root namespace")


def _others_in(subnet: ipaddress.IPv4Network, mine: str) -> bool:
    """Whether an interface of the root namespace other than ``mine`` has an address there."""
    for link in json.loads(_ip("-j", "-4", "addr").stdout or "[]"):
        for info in link.get("addr_info", []):
            if link.get("ifname") != mine and ipaddress.IPv4Address(info["local"]) in subnet:
                return True
    return False


class Network:
    """Hosts (namespaces) on one bridge; the root namespace is on it too, at ``.1``."""

    def __init__(self, hosts: Sequence[str]) -> None:
        for host in hosts:
            if not _HOST.match(host) or host == "switch":
                raise ValueError(
                    f"host name {host!r}: a-z then a-z0-9, at most 12 characters, not 'switch'"
                )
        if len(set(hosts)) != len(hosts) or not hosts:
            raise ValueError(f"host names must be given and distinct: {list(hosts)}")
        self.hosts = list(hosts)
        self.run = secrets.token_hex(3)
        self.subnet: ipaddress.IPv4Network | None = None
        self.namespaces: list[str] = []
        self._switch = self._namespace("switch")
        self.uplink = f"cs{self.run}r"  # the root namespace's veth: at most 15 characters

    def _namespace(self, host: str) -> str:
        return f"{PREFIX}{os.getpid()}-{self.run}-{host}"

    def namespace(self, host: str) -> str:
        """The namespace name of ``host`` (for ``ip netns exec``)."""
        if host not in self.hosts:
            raise KeyError(f"no host {host!r} in this network: {self.hosts}")
        return self._namespace(host)

    def address(self, host: str) -> str:
        """The host's IPv4 address."""
        assert self.subnet is not None, "start() first"
        return str(self.subnet[10 + self.hosts.index(host)])

    @property
    def root_address(self) -> str:
        """The test process's own address on the network."""
        assert self.subnet is not None, "start() first"
        return str(self.subnet[1])

    def start(self) -> Network:
        sweep()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        switch = self._switch
        self._add_namespace(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        _ip("-n", switch, "link", "set", "br0", "up")
        for host in self.hosts:
            self._add_namespace(self.namespace(host))
        _ip("link", "add", self.uplink, "type", "veth", "peer", "name", "root", "netns", switch)
        for _attempt in range(5):
            self.subnet = _free_subnet()
            _ip("addr", "add", f"{self.root_address}/24", "dev", self.uplink)
            if not _others_in(self.subnet, self.uplink):
                break
            # Another run took the same /24 at the same moment: both draw again.
            _ip("addr", "flush", "dev", self.uplink)
        else:
            raise RuntimeError("no free /24 for the test network")
        self._port_up("root")
        _ip("link", "set", self.uplink, "up")
        for i, host in enumerate(self.hosts):
            ns = self.namespace(host)
            port = f"p{i}"
            pair = ["eth0", "type", "veth", "peer", "name", port, "netns", switch]
            _ip("-n", ns, "link", "add", *pair)
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            self._port_up(port)
        for host in self.hosts:
            self._wait_reachable(host)

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _port_up(self, port: str) -> None:
        _ip("-n", self._switch, "link", "set", port, "master", "br0")
        _ip("-n", self._switch, "link", "set", port, "up")

    def _wait_reachable(self, host: str, timeout: float = 10.0) -> None:
        """Until the host answers: a TCP connection to a port nothing listens on is refused
        (the host's kernel sent a reset), where a host out of reach would not answer at all."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((self.address(host), 9), timeout=0.5).close()
                return  # something listens on the discard port: reachable all the same
            except ConnectionRefusedError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {host} ({self.address(host)}) does not answer")
            time.sleep(0.05)

    def command(self, host: str) -> list[str]:
        """The prefix that runs a command on ``host``: ``ip netns exec <namespace>`` (which
        execs the command, so a Popen's pid is the command's own)."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host``."""
        return subprocess.Popen([*self.command(host), *argv], **kwargs)

    def cut(self, host: str) -> None:
        """Cut ``host``'s link: its switch port goes down, its ``eth0`` loses the carrier."""
        _ip("-n", self._switch, "link", "set", f"p{self.hosts.index(host)}", "down")

    def restore(self, host: str) -> None:
        """Plug ``host`` back in."""
        _ip("-n", self._switch, "link", "set", f"p{self.hosts.index(host)}", "up")

    def close(self) -> None:
        """Kill what still runs on the hosts and remove every namespace and interface."""
        for name in reversed(self.namespaces):
            _remove(name)
        self.namespaces.clear()
        _ip("link", "del", self.uplink, check=False)  # gone with the switch already, normally

    def __enter__(self) -> Network:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
