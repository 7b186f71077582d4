"""A real `chatserver serve` process for integration tests."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

from tests.support.clock import python_command
from tests.support.redis_server import free_port
from tests.support.stores import store_env


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        redis_url: str | None,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        node_id: str | None = None,
        demo: bool = False,
        open_files: int | None = None,
        host: str = "127.0.0.1",
        launch: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.redis_url = redis_url
        self.port = port or free_port()
        self.host = host
        #: A command prefix the server runs under, e.g. ``ip netns exec NAME`` (tests.support.netns).
        self.launch = tuple(launch)
        self._port_chosen_here = port is None
        self.env = env or {}
        self.node_id = node_id
        self.demo = demo
        #: The server's open-file limit (RLIMIT_NOFILE), when a test lowers it.
        self.open_files = open_files
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"
        self.log: IO[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        for attempt in range(3):
            try:
                self._start(timeout)
                return
            except RuntimeError as exc:
                # Another test's server took the port between our check and this bind.
                taken = "address already in use" in str(exc)
                if not (taken and self._port_chosen_here and attempt < 2):
                    raise
                self.port = free_port()
                self.log_path = self.data_dir / f"server-{self.port}.log"

    def _start(self, timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CHATSERVER_", "REDIS_URL", "REDIS_SENTINEL"))
        }
        env.update(
            {
                "CHATSERVER_LOG_FORMAT": "json",
                "CHATSERVER_TICK_INTERVAL_S": "0.2",
                # Stopped at the end of every test: no drain unless the test asks for one.
                "CHATSERVER_DRAIN_S": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.redis_url is not None:
            env["REDIS_URL"] = self.redis_url
        env.update(store_env(self.data_dir))
        env.update(self.env)
        cmd = [
            *self.launch,
            *python_command("chatserver"),
            "serve",
            "--data",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.node_id:
            cmd += ["--node-id", self.node_id]
        if not self.demo:
            cmd.append("--no-demo")
        if self.log is not None:
            self.log.close()  # the log of an earlier run of this process (a restart)
        self.log = log = open(self.log_path, "ab")
        limit = self.open_files

        def lower_open_files() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lower_open_files if limit is not None else None,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            log.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.http}/readyz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()
        if self.log is not None:
            self.log.close()


def run_cli(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHATSERVER_", "REDIS_URL", "REDIS_SENTINEL"))
    }
    full_env.update(store_env(data_dir))
    full_env.update(env or {})
    return subprocess.run(
        [*python_command("chatserver"), "--data", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )
