"""Fuzzed task files, schemas and data (short version of tests/reliability/fuzz.py)."""

from __future__ import annotations

import pytest

from tests.reliability import fuzz


def test_fuzzed_inputs_are_one_line_errors_or_runs_never_tracebacks(tmp_path):
    tally = fuzz.run(tmp_path, {"task file": 20, "schema": 20, "data file": 20})
    assert tally.problems == []
    assert tally["tracebacks"] == 0 and tally["inputs"] >= 50


@pytest.mark.model
def test_fuzzed_schemas_through_the_real_model(tmp_path):
    tally = fuzz.run_embedded(tmp_path, cases=6)
    assert tally.problems == []
