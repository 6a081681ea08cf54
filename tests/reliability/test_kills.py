"""Kill -9 at random moments (short version of tests/reliability/kills.py)."""

from __future__ import annotations

from tests.reliability import kills


def test_kill_9_at_random_moments_then_the_same_command_loses_and_duplicates_nothing(tmp_path):
    tally = kills.fake_engine_kills(tmp_path, kills=3, rows=16)
    assert tally.problems == []
    assert tally["kills"] >= 2 and tally["records lost"] == tally["records duplicated"] == 0
    assert tally["byte-identical to the uninterrupted run"] == tally["cases"] == 3
