"""Two runs on one folder, a stale lock (short version of tests/reliability/concurrent.py)."""

from __future__ import annotations

from tests.reliability import concurrent


def test_a_second_run_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    tally = concurrent.run(tmp_path, cases=1, rows=12)
    assert tally.problems == []
    assert tally["second run refused, exit 2 with the first run's pid"] == 1
    assert tally["stale locks taken over"] == 1
