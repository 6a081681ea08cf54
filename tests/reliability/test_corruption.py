"""Corrupted checkpoints (short version of tests/reliability/corruption.py)."""

from __future__ import annotations

from tests.reliability import corruption


def test_each_kind_of_damage_recomputes_only_the_damaged_row_with_one_warning(tmp_path):
    tally = corruption.run(tmp_path, cases=len(corruption.KINDS), rows=12)
    assert tally.problems == []
    assert set(tally["kinds"]) == set(corruption.KINDS)
    assert tally["rows computed again"] == len(corruption.KINDS)
