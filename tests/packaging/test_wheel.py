"""The installed wheel is the product: built from this checkout, installed into a new venv in a
temporary folder (the locked dependencies, then the wheel), started there with
`chatserver serve --data DIR`, it serves the widget, the demo page, sign-in, the console and the
dashboard byte for byte as the checkout's files are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from chatserver import __version__
from chatserver.web.assets import STATIC_DIR, WIDGET_DIR
from tests.support.redis_server import free_port
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout holding the locked dependencies and the built wheel."""
    where = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", where / "dist", ROOT, cwd=where)  # fmt: skip
    (wheel,) = (where / "dist").glob("chatserver-*.whl")
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    pip: list[str | Path] = [
        where / "venv" / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
    ]
    run(*pip, "--require-hashes", "-r", ROOT / "requirements" / "hub.txt", cwd=where)
    run(*pip, wheel, cwd=where)
    # The wheel's declared dependencies are met by what the lock installed.
    run(where / "venv" / "bin" / "python", "-m", "pip", "check", cwd=where)
    return where


def test_the_wheel_carries_every_asset_and_data_file(installed: Path) -> None:
    (wheel,) = (installed / "dist").glob("chatserver-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package_data = [
        *(ROOT / "chatserver" / "web" / "assets").rglob("*"),
        *(ROOT / "chatserver" / "store" / "migrations").rglob("*.sql"),
        *(ROOT / "chatserver" / "lua").glob("*.lua"),
        *(ROOT / "chatserver" / "analytics" / "templates").glob("*"),
        *(ROOT / "routing" / "lua").glob("*.lua"),
        ROOT / "routing" / "default_routing.toml",
    ]
    files = {p.relative_to(ROOT).as_posix() for p in package_data if p.is_file()}
    assert len(files) > 70
    assert sorted(files - names) == []
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]


def test_installed_wheel_serves_the_product(installed: Path) -> None:
    venv_bin = installed / "venv" / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHATSERVER_", "REDIS_URL", "PYTHON"))
    }
    # It is that venv's package that runs, not this checkout.
    where = run(venv_bin / "python", "-c", "import chatserver.web.assets as a; print(a.ASSETS_DIR)",
                cwd=installed, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(installed / "venv")
    assert run(venv_bin / "chatserver", "--version", cwd=installed, env=env).strip() == (
        f"chatserver {__version__}"
    )

    data = installed / "data"
    port = free_port()
    log = open(installed / "serve.log", "wb")
    proc = subprocess.Popen(
        [venv_bin / "chatserver", "serve", "--data", data, "--port", str(port)],
        cwd=installed, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = ServerProcess(data, None, port=port)
    server.proc = proc
    server.log_path = installed / "serve.log"
    try:
        server._wait_ready(30)
        out = server.output()
        password = re.search(r"agent\s+password (\S+)", out)
        assert password is not None, out
        # The printed command to manage accounts is the venv's own.
        assert f"{venv_bin / 'chatserver'} --data {data} agents set" in out, out
        with httpx.Client(base_url=server.http) as http:
            same = {
                "/widget.js": WIDGET_DIR / "loader.js",
                "/widget/frame?site=demo": WIDGET_DIR / "frame.html",
                "/widget/app/main.js": WIDGET_DIR / "app" / "main.js",
                "/widget/locales/ar.json": WIDGET_DIR / "locales" / "ar.json",
                "/demo/assets/demo.css": WIDGET_DIR / "demo" / "demo.css",
                "/console/static/console/app.js": STATIC_DIR / "console" / "app.js",
                "/console/static/dashboard/charts.js": STATIC_DIR / "dashboard" / "charts.js",
                "/console/static/vendor/chart.umd.js": STATIC_DIR / "vendor" / "chart.umd.js",
            }
            for url, path in same.items():
                answer = http.get(url)
                assert answer.status_code == 200, url
                assert answer.content == path.read_bytes(), url
            demo = http.get("/demo")
            assert demo.status_code == 200 and "/widget.js" in demo.text
            login = http.get("/login")
            assert login.status_code == 200 and "Sign in" in login.text
            assert http.get("/console").status_code in (302, 303, 307)
            signed = http.post(
                "/api/v1/auth/login", json={"username": "agent", "password": password.group(1)}
            )
            assert signed.status_code == 200, signed.text
            console = http.get("/console")
            assert console.status_code == 200 and "/console/static/console/app.js" in console.text
        assert server.terminate() == 0
    finally:
        server.kill()
        log.close()
