"""Few-shot examples: selection by BM25, and how many a run uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinextract.errors import ConfigError
from clinextract.examples import AUTO_EXAMPLES, Example, ExamplePool, few_shot
from clinextract.schema import OutputSchema
from clinextract.task import Task


def test_asking_for_the_whole_pool_still_ranks_it() -> None:
    pool = ExamplePool(
        [Example("lever cyste", "a"), Example("long nodus", "b"), Example("nier steen", "c")]
    )
    chosen = pool.select("long nodus rechts", 3)
    assert len(chosen) == 3 and chosen[-1].output == "b"  # the most similar sits last


# --- how many examples a run uses ("auto" resolved in one place) ---------------------------

SCHEMA = OutputSchema.from_legacy({"maat": {"type": "int", "optional": True}})


def task_with(tmp_path: Path, n: int | None) -> Task:
    """A task with an Example_Path of n examples (None: no Example_Path)."""
    path = None
    if n is not None:
        path = tmp_path / "examples.json"
        rows = [{"input": f"verslag {i}", "output": {"maat": i}} for i in range(n)]
        path.write_text(json.dumps(rows), encoding="utf-8")
    return Task("Task001_x", "Meet.", "text", SCHEMA, example_path=path)


@pytest.mark.parametrize(
    "pool_size, requested, used",
    [
        (8, "auto", AUTO_EXAMPLES),  # the task has examples: use them
        (2, "auto", 2),  # all of a small pool
        (None, "auto", 0),  # no examples: zero-shot, no error
        (8, 5, 5),
        (8, 12, 8),  # never more than there are
        (8, 0, 0),  # 0 still turns them off
    ],
)
def test_auto_uses_the_tasks_examples_and_a_number_is_a_number(
    tmp_path, pool_size, requested, used
):
    shots = few_shot(task_with(tmp_path, pool_size), requested)
    assert shots.per_report == used
    assert len(shots.select("verslag 3 mm")) == used
    assert shots.source == (str(tmp_path / "examples.json") if used else None)


def test_zero_examples_do_not_even_read_the_file(tmp_path):
    task = Task("T", "d", "text", SCHEMA, example_path=tmp_path / "missing.json")
    assert few_shot(task, 0).pool is None
    with pytest.raises(ConfigError, match="not found"):  # asked for, a missing file is an error
        few_shot(task, "auto")


def test_a_number_without_examples_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="--num-examples 3 needs an Example_Path"):
        few_shot(task_with(tmp_path, None), 3)


def test_examples_in_memory_take_the_place_of_the_file(tmp_path):
    pool = ExamplePool.from_items([("nodus 4 mm", {"maat": 4})], SCHEMA)
    shots = few_shot(task_with(tmp_path, 8), "auto", pool)
    assert shots.pool is pool and shots.per_report == 1 and shots.source == "in memory"
    assert "1 per report (auto) from in memory" in shots.describe()
