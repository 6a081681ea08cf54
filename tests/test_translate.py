"""The translation pre-pass (`--translate`) with a fake engine (unit level, see fakes.py):
the fake "translates" by upper-casing, and extracts whether the text it was given is
upper case, so the records show which text extraction saw."""

from __future__ import annotations

import json

from clinextract import translate
from clinextract.data import RecordsSource
from clinextract.engines.base import Completion
from clinextract.pipeline import run_task
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.store import translations_path
from clinextract.task import Task
from tests.fakes import FakeEngine, ok, report_of

SCHEMA = OutputSchema.from_legacy({"upper": {"type": "bool"}})
TASK = Task("Task010_nl", "Is the report in capitals?", "text", SCHEMA)
TEXTS = ["de nodus is 6 mm", "geen afwijkingen", "longembolie links", "de nodus is 6 mm"]


def is_translation(request) -> bool:
    return request.messages[0]["content"] == translate.SYSTEM


def fake(request, fail_on: str | None = None, cut_first: set | None = None) -> Completion:
    text = report_of(request)
    if is_translation(request):
        if fail_on and fail_on in text:
            return Completion("", "error", error="server said no")
        if cut_first is not None and text not in cut_first:
            cut_first.add(text)
            return Completion('{"translation": "CUT', "length")
        return ok(json.dumps({"translation": text.upper()}))
    return ok(json.dumps({"upper": text == text.upper()}))


def source():
    return RecordsSource([{"id": str(i), "text": t} for i, t in enumerate(TEXTS)], "text")


def run(tmp_path, engine, **kw):
    settings = Settings(output_dir=tmp_path, translate=True, **kw)
    [summary] = run_task(TASK, settings, source=source(), engine=engine)
    return summary, json.loads(summary.predictions_path.read_text())


def count(engine):
    translations = sum(map(is_translation, engine.requests))
    return translations, len(engine.requests) - translations


def test_extraction_reads_the_translation_and_the_output_keeps_the_input(tmp_path):
    engine = FakeEngine(fake)
    summary, out = run(tmp_path, engine)
    assert [r["upper"] for r in out] == [True] * 4
    assert [r["text"] for r in out] == TEXTS  # the input columns as given
    assert count(engine) == (3, 4)  # a repeated text is translated once
    request = next(r for r in engine.requests if is_translation(r))
    assert request.schema == translate.SCHEMA and request.max_tokens >= 128
    cache = translations_path(Settings(output_dir=tmp_path), TASK.name)
    lines = [json.loads(x) for x in cache.read_text().splitlines()]
    assert sorted(x["translation"] for x in lines) == sorted(t.upper() for t in set(TEXTS))


def test_translations_are_reused_from_the_run_folder(tmp_path):
    run(tmp_path, FakeEngine(fake))
    again = FakeEngine(fake)
    summary, _ = run(tmp_path, again)
    assert count(again) == (0, 0) and summary.reused == 4
    # the records are gone but the cache is not: extraction again, translation not
    (summary.run_dir / "records.jsonl").unlink()
    third = FakeEngine(fake)
    _, out = run(tmp_path, third)
    assert count(third) == (0, 4)
    assert [r["upper"] for r in out] == [True] * 4
    # another model means other translations: nothing of the cache applies
    other = FakeEngine(fake)
    other.describe = lambda: {"engine": "fake", "model": "other-model"}
    run(tmp_path, other)
    assert count(other) == (3, 4)


def test_a_failed_translation_falls_back_to_the_original_text(tmp_path):
    engine = FakeEngine(lambda r: fake(r, fail_on="longembolie"))
    messages: list[str] = []
    settings = Settings(output_dir=tmp_path, translate=True)
    [summary] = run_task(TASK, settings, source=source(), engine=engine,
                         on_status=messages.append)  # fmt: skip
    out = json.loads(summary.predictions_path.read_text())
    assert [r["upper"] for r in out] == [True, True, False, True]
    assert any("1 translation failed" in m for m in messages)
    cache = translations_path(settings, TASK.name).read_text()
    assert '"status": "failure"' in cache and "server said no" in cache
    again = FakeEngine(fake)  # it would succeed now, but the failure is cached
    run(tmp_path, again)
    assert count(again) == (0, 0)


def test_a_cut_translation_is_retried_once_with_twice_the_budget(tmp_path):
    seen: set = set()
    engine = FakeEngine(lambda r: fake(r, cut_first=seen), capacity=1)
    _, out = run(tmp_path, engine)
    assert [r["upper"] for r in out] == [True] * 4
    budgets: dict[str, list[int]] = {}
    for r in engine.requests:
        if is_translation(r):
            budgets.setdefault(report_of(r), []).append(r.max_tokens)
    assert len(budgets) == 3
    assert all(b == [b[0], 2 * b[0]] for b in budgets.values())


def test_overwrite_forgets_the_cache_and_a_torn_line_is_dropped(tmp_path):
    run(tmp_path, FakeEngine(fake))
    cache = translations_path(Settings(output_dir=tmp_path), TASK.name)
    cache.write_bytes(cache.read_bytes() + b'{"text_sha": "half')  # killed mid-write
    again = FakeEngine(fake)
    run(tmp_path, again)
    assert count(again) == (0, 0)
    assert cache.read_bytes().endswith(b"\n")
    fresh = FakeEngine(fake)
    run(tmp_path, fresh, overwrite=True)
    assert count(fresh) == (3, 4)


def test_a_translation_that_failed_for_a_passing_reason_is_asked_for_again(tmp_path):
    def timeout(request):
        if is_translation(request) and "longembolie" in report_of(request):
            return Completion.failed("no answer within --timeout 1 s", transient=True)
        return fake(request)

    run(tmp_path, FakeEngine(timeout))
    cache = translations_path(Settings(output_dir=tmp_path), TASK.name).read_text()
    assert '"transient": true' in cache
    again = FakeEngine(fake)
    _, out = run(tmp_path, again)
    assert count(again)[0] == 1  # only the timed-out one, and now it succeeds
    assert [r["upper"] for r in out] == [True] * 4


def test_a_cache_line_of_another_shape_is_not_an_entry(tmp_path):
    run(tmp_path, FakeEngine(fake))
    cache = translations_path(Settings(output_dir=tmp_path), TASK.name)
    cache.write_text('[1, 2]\n{"status": "success"}\n' + cache.read_text())
    again = FakeEngine(fake)
    _, out = run(tmp_path, again)
    assert count(again)[0] == 0 and [r["upper"] for r in out] == [True] * 4
