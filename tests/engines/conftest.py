"""Fixtures for the engine tests: real HTTP servers on 127.0.0.1 (tests/engines/fixtures/),
started for a test and stopped after it."""

from __future__ import annotations

import pytest

from tests.engines.fixtures.fault_server import FaultServer


@pytest.fixture
def server(request):
    """An OpenAI-compatible fault server; `pytest.mark.parametrize("server", [kw],
    indirect=True)` passes its keyword arguments (canned replies, owner, metadata)."""
    srv = FaultServer(**getattr(request, "param", {})).start()
    yield srv
    srv.stop()
