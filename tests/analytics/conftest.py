"""Fixtures: stores made by the deterministic generator (`chatserver.analytics.sample`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatserver.analytics.sample import SampleData, generate
from chatserver.analytics.source import Snapshot


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    """600 conversations over 14 days; never modified (copy it with `fresh_store`)."""
    path = tmp_path_factory.mktemp("sample") / "chat.db"
    return generate(path, conversations=600, days=14, seed=11)


@pytest.fixture
def snapshot(sample: SampleData) -> Iterator[Snapshot]:
    with Snapshot(sample.path) as snap:
        yield snap


@pytest.fixture
def fresh_store(sample: SampleData, tmp_path: Path) -> Path:
    """A private copy of the sample store (a data folder's ``chat.db``) to change."""
    data = tmp_path / "data"
    data.mkdir()
    target = data / "chat.db"
    shutil.copyfile(sample.path, target)
    return target
