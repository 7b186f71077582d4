"""The hosts of tests/support/netns.py: reachable from the test process and from each other, a
cut host out of reach until restored, nothing left behind by `Network.close`, and what a crashed
run left removed by `sweep` — but not what a live run holds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Network

import pytest

from tests.support.netns import PREFIX, Network, sweep, unavailable


@pytest.fixture
def net() -> Iterator[Network]:
    why = unavailable()
    if why:
        pytest.skip(why)
    with Network(["one", "two"]) as network:
        yield network


def reachable(address: str, timeout: float = 0.5) -> bool:
    """Whether the host at ``address`` answers (a refused connection is an answer)."""
    try:
        socket.create_connection((address, 9), timeout=timeout).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return True


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout


def test_hosts_reach_each_other_and_a_cut_host_is_out_of_reach(net: Network) -> None:
    one, two = net.address("one"), net.address("two")
    assert net.subnet is not None and net.subnet.subnet_of(IPv4Network("10.231.0.0/16"))
    assert {one, two, net.root_address} < set(map(str, net.subnet.hosts()))
    assert reachable(one) and reachable(two)
    # From one host to the other, inside the namespace: a process started there.
    probe = f"import socket; socket.create_connection(({two!r}, 9), timeout=2)"
    inside = net.popen("one", [sys.executable, "-c", probe], stderr=subprocess.PIPE)
    _, err = inside.communicate(timeout=10)
    assert b"ConnectionRefusedError" in err  # the other host's kernel answered
    net.cut("one")
    assert not reachable(one) and reachable(two)
    net.restore("one")
    net._wait_reachable("one")


def test_close_leaves_nothing_and_sweep_removes_a_crashed_runs_namespaces() -> None:
    why = unavailable()
    if why:
        pytest.skip(why)
    network = Network(["solo"]).start()
    # A process still running on a host keeps its namespace alive: close() kills it.
    sleeper = network.popen("solo", ["sleep", "600"])
    mine = list(network.namespaces)
    assert set(mine) <= set(namespaces()) and network.uplink in links()
    network.close()
    assert sleeper.wait(5) == -9
    assert not set(mine) & set(namespaces()) and network.uplink not in links()

    # A crashed run: its namespace carries the pid of a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftover = f"{PREFIX}{gone.pid}-abcdef-host"
    subprocess.run(["ip", "netns", "add", leftover], check=True)
    orphan = subprocess.Popen(["ip", "netns", "exec", leftover, "sleep", "600"])
    live = f"{PREFIX}{os.getpid()}-abcdef-host"  # this process's: a run in progress
    subprocess.run(["ip", "netns", "add", live], check=True)
    try:
        assert leftover in sweep()  # (and any other crashed run's, not this one's)
        assert orphan.wait(5) == -9
        assert leftover not in namespaces() and live in namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", live], check=False)
        subprocess.run(["ip", "netns", "del", leftover], check=False)
