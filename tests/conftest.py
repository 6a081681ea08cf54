from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(Path(__file__).parent))  # tests/fakes.py


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the venv's scripts first, quiet rich output."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    env["TERM"] = "dumb"
    return env
