"""Start-up and early errors end (short version of tests/reliability/hangs.py)."""

from __future__ import annotations

import pytest

from tests.reliability import hangs


@pytest.mark.model
def test_early_errors_and_ctrl_c_right_after_start_up_never_hang(tmp_path):
    tally = hangs.run(tmp_path, tries=1, limit=300, load=0)
    assert tally.problems == []
