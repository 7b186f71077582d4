"""docs/systemd/ as an operator would install it (docs/deployment.md): the units pass
`systemd-analyze verify`, every setting in the example environment is one the hub knows, and
the service's own command line, run with that environment (pointed at this test's Redis and
PostgreSQL), serves and stops as systemd stops it — SIGTERM, exit 0 within TimeoutStopSec."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatserver.settings import ENVIRONMENT
from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "docs" / "systemd"
INSTALLED = "/opt/chat/bin/chatserver"  # where docs/operations.md installs the wheel
CHATSERVER = Path(sys.executable).parent / "chatserver"


def unit(name: str) -> dict[str, str]:
    """The unit's settings (the last of a repeated key wins, as systemd reads them)."""
    values: dict[str, str] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def example_environment() -> dict[str, str]:
    values = {}
    for line in (UNITS / "chatserver.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            (values[key],) = shlex.split(value)  # quotes removed, as systemd removes them
    return values


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_units_verify(tmp_path: Path) -> None:
    names = ["chatserver@.service", "chatserver-purge.service", "chatserver-purge.timer"]
    for name in names:
        text = (UNITS / name).read_text()
        assert name.endswith(".timer") or INSTALLED in text, name
        # The program where this test's venv has it: verify checks it is executable.
        (tmp_path / name).write_text(text.replace(INSTALLED, str(CHATSERVER)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "./chatserver@8001.service",
         "./chatserver-purge.service", "./chatserver-purge.timer"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Any unknown key, bad value or missing program is a line on stderr.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_example_environment_names_only_settings_the_hub_knows() -> None:
    env = example_environment()
    assert set(env) <= set(ENVIRONMENT), sorted(set(env) - set(ENVIRONMENT))
    service = unit("chatserver@.service")
    # The kill timeout leaves room for the drain and both waits of the shutdown.
    stop = float(service["TimeoutStopSec"])
    assert stop >= float(env["CHATSERVER_DRAIN_S"]) + 2 * float(env["CHATSERVER_SHUTDOWN_GRACE_S"])


def test_the_service_command_serves_and_stops_as_systemd_stops_it(
    tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    service = unit("chatserver@.service")
    port = free_port()
    command = (
        service["ExecStart"]
        .replace(INSTALLED, str(CHATSERVER))
        .replace("/var/lib/chatserver", str(tmp_path / "state"))
        .replace("0.0.0.0", "127.0.0.1")
        .replace("%i", str(port))
        .split()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATSERVER_", "REDIS_"))}
    env.update(example_environment())
    # This machine's Redis and PostgreSQL in place of the floor's.
    del env["REDIS_SENTINELS"], env["REDIS_SENTINEL_MASTER"]
    env["REDIS_URL"] = redis_server.url
    env["CHATSERVER_DATABASE_URL"] = postgres_url
    env["CHATSERVER_NODE_ID"] = (
        service["Environment"]
        .split("=", 1)[1]
        .replace("%H", socket.gethostname())
        .replace("%i", str(port))
    )
    log = open(tmp_path / "hub.log", "wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "hub.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.1)
        ready = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert ready["node"] == f"{socket.gethostname()}-{port}", ready
        started = time.monotonic()
        proc.send_signal(getattr(signal, service["KillSignal"]))
        code = proc.wait(float(service["TimeoutStopSec"]))
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert code == 0, (tmp_path / "hub.log").read_text()
    drain = float(env["CHATSERVER_DRAIN_S"])
    assert drain <= took < float(service["TimeoutStopSec"]), took  # it drained, then stopped
