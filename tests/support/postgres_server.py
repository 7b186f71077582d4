"""A private PostgreSQL cluster for tests: ``initdb`` in a temporary folder, started on a free
port, killable and restartable — as `tests.support.redis_server.RedisServer` does for Redis.

The binaries are Debian's (``./dev.sh test`` installs ``postgresql`` when none is found): on
PATH, else the newest ``/usr/lib/postgresql/*/bin``. ``initdb`` and ``postgres`` refuse to run
as root, so as root they run as the ``postgres`` user if there is one, else ``nobody``, and the
folder is theirs. The cluster is made for speed, not safety (``fsync=off``: a commit still
reaches the OS before the client is told, so killing the server loses nothing acked, only a
machine crash would), trusts every local connection, and listens on 127.0.0.1 and on a Unix
socket in its own folder. Given another ``host`` (an address of a test network,
tests/support/netns.py) it listens there and trusts every client of that subnet too
(``samenet``); given a ``launch`` prefix (``ip netns exec NAME``) it runs under it, dropping to
the unprivileged user with ``setpriv`` after the prefix, which needs root. ``settings``
override the defaults (``{"fsync": "on", …}``: a cluster whose commits wait for the disk, as
the persistence benchmark measures them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from tests.support.redis_server import free_port

__all__ = ["PostgresServer", "postgres_binaries"]

SUPERUSER = "postgres"


def postgres_binaries() -> Path:
    """The folder holding ``initdb`` and ``postgres``."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    raise RuntimeError(
        "no PostgreSQL: initdb is neither on PATH nor in /usr/lib/postgresql/*/bin"
        " (./dev.sh test installs Debian's postgresql)"
    )


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return user.pw_uid, user.pw_gid
    raise RuntimeError("running as root and there is neither a 'postgres' nor a 'nobody' user")


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, on 127.0.0.1:<port> (or ``host``)."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        launch: Sequence[str] = (),
        settings: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.host = host
        self.launch = tuple(launch)
        self.settings = settings or {}
        self.bin = postgres_binaries()
        self.dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.dir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as = _run_as()
        if self._as is not None:
            os.chown(self.dir, *self._as)
        self._initdb()
        if host != "127.0.0.1":
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write("host all all samenet trust\n")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            check=False,
            cwd=self.dir,
            env=self._env,
            user=self._as[0] if self._as else None,
            group=self._as[1] if self._as else None,
            extra_groups=[] if self._as else None,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def start(self) -> None:
        for attempt in range(3):
            if attempt:
                self.port = free_port()  # the port was taken meanwhile: another one
            if self._start_once():
                return
        raise RuntimeError(f"postgres did not start; see {self.dir / 'postgres.log'}")

    def _start_once(self) -> bool:
        log = open(self.dir / "postgres.log", "ab")
        # Under a launch prefix the switch to the unprivileged user comes after it (entering a
        # namespace needs root), through setpriv; otherwise Popen makes it.
        drop = (
            ["setpriv", f"--reuid={self._as[0]}", f"--regid={self._as[1]}", "--clear-groups"]
            if self.launch and self._as
            else []
        )
        run_as = self._as if not self.launch else None
        try:
            self.proc = subprocess.Popen(
                [
                    *self.launch,
                    *drop,
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    f"unix_socket_directories={self.dir}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=64MB",
                    "-c",
                    "log_min_messages=warning",
                    *(f"-c{name}={value}" for name, value in self.settings.items()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, apart from the test runner
                cwd=self.dir,
                env=self._env,
                user=run_as[0] if run_as else None,
                group=run_as[1] if run_as else None,
                extra_groups=[] if run_as else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                with psycopg.connect(self.url(), connect_timeout=1):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.kill()
        return False

    def kill(self) -> None:
        """SIGKILL the server and its backends at once, as a crash would.

        Every backend is a process group of its own (PostgreSQL's children call ``setsid``), so
        killing the postmaster's group alone would leave them to notice its death in their own
        time — long enough, on a busy machine, to answer one more query. They are found by
        parent and killed with it, and the call returns once none is left."""
        if self.proc is not None:
            doomed = [self.proc.pid, *_descendants(self.proc.pid)]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            for pid in doomed[1:]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None
            deadline = time.monotonic() + 10  # the backends' shared memory must be gone
            while time.monotonic() < deadline and (
                _group_alive(self.dir) or any(_alive(pid) for pid in doomed[1:])
            ):
                time.sleep(0.02)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE ``name`` (a copy of ``template`` if given); returns its URL."""
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(root: int) -> list[int]:
    """The pids of every living process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still a process that has not exited (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_alive(folder: Path) -> bool:
    """Whether a process of the killed server still holds its data folder's lock file."""
    pid_file = folder / "data" / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True
