"""The pipeline primes the engine's slots with the shared instruction once per run."""

from __future__ import annotations

import json

from clinextract.data import RecordsSource
from clinextract.engines.base import Request
from clinextract.messages import Message
from clinextract.pipeline import run_task
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.task import Task
from tests.fakes import FakeEngine, ok

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
