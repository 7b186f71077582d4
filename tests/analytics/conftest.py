"""Fixtures: stores made by the deterministic generator (`chatserver.analytics.sample`), on
SQLite as generated and copied into PostgreSQL (`copy_from_sqlite`), so that the tests that
read them run on both stores."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatserver.analytics.sample import SampleData, generate
from chatserver.store import ReadSnapshot
from chatserver.store.postgres.copy_in import copy_from_sqlite
from tests.analytics.helpers import snapshot_of
from tests.chatserver.store.conftest import STORES, backend, store_url
from tests.conftest import POSTGRES_TEMPLATE
from tests.support.postgres_server import PostgresServer
from tests.support.server import run_cli


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    """600 conversations over 14 days; never modified (copy it with `fresh_store`)."""
    path = tmp_path_factory.mktemp("sample") / "chat.db"
    return generate(path, conversations=600, days=14, seed=11)


@pytest.fixture(scope="session")
def sample_postgres(sample: SampleData, postgres_server: PostgresServer) -> str:
    """The sample copied into a PostgreSQL database of its own; never modified."""
    url = postgres_server.create_database("analytics_sample", template=POSTGRES_TEMPLATE)
    copy_from_sqlite(sample.path, url)
    return url


@pytest.fixture(scope="session", params=STORES, ids=backend)
def sample_url(request: pytest.FixtureRequest, sample: SampleData) -> str:
    """The sample on each store (read only)."""
    if "{postgresql}" in str(request.param):
        url: str = request.getfixturevalue("sample_postgres")
        return url
    return str(sample.path)


@pytest.fixture
def snapshot(sample_url: str) -> Iterator[ReadSnapshot]:
    with snapshot_of(sample_url) as snap:
        yield snap


@pytest.fixture
def fresh_store(sample: SampleData, tmp_path: Path) -> Path:
    """A private copy of the sample store (a data folder's ``chat.db``) to change."""
    data = tmp_path / "data"
    data.mkdir()
    target = data / "chat.db"
    shutil.copyfile(sample.path, target)
    return target


@pytest.fixture(params=STORES, ids=backend)
def fresh_url(request: pytest.FixtureRequest, sample: SampleData, tmp_path: Path) -> str:
    """A private copy of the sample on each store, to change: its URL."""
    url = store_url(request, tmp_path)
    if url.startswith("sqlite:///"):
        shutil.copyfile(sample.path, url.removeprefix("sqlite:///"))
    else:
        copy_from_sqlite(sample.path, url)
    return url


@dataclass(frozen=True)
class Operator:
    """The analytics commands run on a private copy of the sample: in a data folder's
    ``chat.db`` or on PostgreSQL through ``CHATSERVER_DATABASE_URL``."""

    data: Path
    env: dict[str, str]
    url: str  # what the commands open: the file's path or the PostgreSQL URL

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data, *args, env=self.env)


@pytest.fixture(params=["data-folder", "postgresql"])
def operator(request: pytest.FixtureRequest, fresh_store: Path, tmp_path: Path) -> Operator:
    if request.param == "data-folder":
        return Operator(fresh_store.parent, {}, str(fresh_store))
    url: str = request.getfixturevalue("postgres_url")
    copy_from_sqlite(fresh_store, url)
    folder = tmp_path / "elsewhere-data"
    folder.mkdir()
    return Operator(folder, {"CHATSERVER_DATABASE_URL": url}, url)
