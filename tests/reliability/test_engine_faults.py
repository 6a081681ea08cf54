"""Engine faults (short version of tests/reliability/engine_faults.py)."""

from __future__ import annotations

from tests.reliability import engine_faults


def test_http_500_every_fifth_request_and_answers_cut_mid_body(tmp_path):
    tally = engine_faults.run(tmp_path, modes=("every5", "cut"), restart_pause=(), rows=12, load=0)
    assert tally.problems == []
    assert tally["fabricated values"] == tally["records lost"] == 0
