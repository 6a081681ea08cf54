"""The pipeline primes the engine's slots with the shared instruction once per run."""

from __future__ import annotations

import csv
import json

import pytest

from clinextract.data import RecordsSource
from clinextract.engines.base import Request
from clinextract.messages import Message
from clinextract.pipeline import run_task
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.store import RunFolder
from clinextract.task import Task, load_task
from tests.fakes import FakeEngine, ok
from tests.paths import EXAMPLES

SCHEMA = OutputSchema.from_legacy({"woord": {"type": "str"}})
TASK = Task("Task010_prime", "Geef het eerste woord.", "text", SCHEMA)


class PrimedEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__(lambda request: ok(json.dumps({"woord": "x"})), threaded=False)
        self.primed: list[list[Message]] = []

    def prime(self, prefix: list[Message]) -> None:
        assert not self.requests, "priming comes before the first request"
        self.primed.append(prefix)


def rows(n: int) -> RecordsSource:
    return RecordsSource([{"id": str(i), "text": f"woord {i}"} for i in range(n)], "text")


def test_prime_once_with_the_prefix_every_request_starts_with(tmp_path) -> None:
    engine = PrimedEngine()
    run_task(TASK, Settings(output_dir=tmp_path), source=rows(5), engine=engine)
    assert len(engine.primed) == 1
    [prefix] = engine.primed
    request: Request
    for request in engine.requests:
        assert request.messages[: len(prefix)] == prefix


def test_no_priming_when_nothing_is_computed(tmp_path) -> None:
    engine = PrimedEngine()
    run_task(TASK, Settings(output_dir=tmp_path), source=rows(3), engine=engine)
    again = PrimedEngine()  # the same run resumed: every row is reused
    run_task(TASK, Settings(output_dir=tmp_path), source=rows(3), engine=again)
    assert again.primed == [] and again.requests == []


@pytest.mark.model
def test_one_slot_answers_do_not_depend_on_what_the_cache_held(tmp_path) -> None:
    """At --parallel 1 every request starts from the primed instruction. Continued from
    its own earlier prompt instead, this report's answer differed (llama.cpp is not
    batch-invariant): a resumed run or a Ray worker would then disagree with a local run."""
    from clinextract.engines.embedded import EmbeddedEngine

    data = EXAMPLES / "data"
    settings = Settings(
        data_dir=data, example_dir=data, num_examples=2, parallel=1, threads=1, overwrite=True
    )
    task = load_task(EXAMPLES / "tasks" / "Task001_dutch_radiology.json", settings)
    with (data / "radiology_reports.csv").open(encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    answers = []
    with EmbeddedEngine(settings) as engine:
        for k in range(2):  # the second time, its own prompt is what the cache last held
            run = settings.model_copy(update={"output_dir": tmp_path / str(k)})
            source = RecordsSource([first], task.input_field, task.id_field)
            [summary] = run_task(task, run, source=source, engine=engine)
            answers.append(RunFolder(summary.run_dir).records()[0]["raw_output"])
    assert answers[0] == answers[1]
