"""Fixtures for the Studio tests: a fresh workspace (task, data and output folders with a
small dataset) as the Settings the Studio is started with."""

from __future__ import annotations

import pytest

from clinextract.settings import Settings
from tests.studio.helpers import make_workspace


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_workspace(tmp_path)
