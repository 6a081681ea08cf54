"""Fixtures every test folder may use. Helpers are imported as modules of the `tests`
package (`from tests.fakes import FakeEngine`), so no test changes `sys.path`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def cli_env() -> dict[str, str]:
    return cli_environment()


def cli_environment() -> dict[str, str]:
    """Environment for CLI subprocesses: the venv's scripts first, quiet rich output."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    env["TERM"] = "dumb"
    return env
