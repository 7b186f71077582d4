from __future__ import annotations

import pytest

from tests.core.fakes import World


@pytest.fixture
def world() -> World:
    return World()
