"""Write failures (short version of tests/reliability/writes.py)."""

from __future__ import annotations

import pytest

from tests.reliability import writes


def test_injected_write_failures_are_one_line_exit_1_and_resume(tmp_path):
    tally = writes.injected(tmp_path, cases=2, rows=10)  # an append, then the final file
    assert tally.problems == []
    assert tally["exit 1 with one line"] == tally["completed once writing worked again"] == 2


def test_a_full_disk_and_a_read_only_folder_for_real(tmp_path):
    why = writes.namespaces_allowed()
    if why:
        pytest.skip(why)
    tally = writes.real(tmp_path, rounds=1, rows=40)
    assert tally.problems == []
    assert tally["disk full: exit 1 with one line"] == tally["read-only: exit 1 with one line"] == 1
