"""Where the tests find the project's files (the checkout, the shared data beside it)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"
SYNTHETIC = SHARED / "dragon" / "synthetic"
