"""Pipeline bookkeeping with a fake engine (unit level: see fakes.py)."""

from __future__ import annotations

import json
import random
import time

import pytest

from clinextract.data import RecordsSource
from clinextract.engines.base import Completion
from clinextract.errors import ConfigError, EngineError
from clinextract.pipeline import run_task
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.task import Task
from tests.fakes import FakeEngine, ok, report_of

SCHEMA = OutputSchema.from_legacy({"lengte": {"type": "int"}, "woord": {"type": "str"}})
TASK = Task("Task009_fake", "Tel de letters.", "text", SCHEMA)


def answer_length(request):
    text = report_of(request)
    time.sleep(random.random() / 200)  # finish out of order
    return ok(json.dumps({"lengte": len(text), "woord": text.split()[0]}))


def source(n=30, **extra):
    texts = [" ".join(["woord"] * (1 + (i * 7) % 11)) + f" {i}" for i in range(n)]
    return RecordsSource(
        [{"uid": f"{i:03d}", "text": t, **extra} for i, t in enumerate(texts)], "text"
    )


def settings(tmp_path, **kw):
    return Settings(output_dir=tmp_path, **kw)


def predictions(summary):
    return json.loads(summary.predictions_path.read_text())


def test_one_record_per_row_in_input_order(tmp_path):
    src = source()
    [summary] = run_task(TASK, settings(tmp_path), source=src, engine=FakeEngine(answer_length))
    out = predictions(summary)
    assert [r["uid"] for r in out] == [f"{i:03d}" for i in range(30)]
    for row, rec in zip(src, out, strict=True):
        assert rec["text"] == row.text and rec["lengte"] == len(row.text)
        assert rec["status"] == "success" and rec["error"] is None
    assert summary.successes == 30 and summary.failures == 0
    assert summary.run_dir == tmp_path / "run" / "Task009_fake-run0"


def test_longest_reports_are_sent_first(tmp_path):
    engine = FakeEngine(answer_length, capacity=1, threaded=False)
    run_task(TASK, settings(tmp_path), source=source(8), engine=engine)
    lengths = [len(report_of(r)) for r in engine.requests]
    assert lengths == sorted(lengths, reverse=True)


def test_an_invalid_field_is_null_with_its_reason_and_the_rest_is_kept(tmp_path):
    """One bad field does not throw the record away: `partial`, the valid field kept, the
    invalid one null with a field_errors entry; one targeted repair, never identical."""
    engine = FakeEngine(lambda request: ok('{"lengte": "veel", "woord": "x"}'))
    [summary] = run_task(TASK, settings(tmp_path), source=source(3), engine=engine)
    for rec in predictions(summary):
        assert rec["status"] == "partial"
        assert rec["lengte"] is None and rec["woord"] == "x"
        assert "lengte" in rec["field_errors"] and "integer" in rec["field_errors"]["lengte"]
        assert "again after a targeted repair" in rec["field_errors"]["lengte"]
        assert "lengte" in rec["error"]
    lines = [json.loads(x) for x in (summary.run_dir / "records.jsonl").read_text().splitlines()]
    assert all(x["attempts"] == 2 for x in lines)  # one targeted repair
    assert all(x["raw_output"].count('"lengte": "veel"') == 2 for x in lines)
    repairs = engine.requests[3:]
    assert [list(r.schema["properties"]) for r in repairs] == [["lengte"]] * 3
    assert summary.partials == 3 and summary.successes == 0 and summary.failures == 0


def test_a_targeted_repair_that_fixes_the_field_gives_success(tmp_path):
    def fixed_on_repair(request):
        if list(request.schema["properties"]) == ["lengte"]:
            return ok('{"lengte":7}')
        return ok('{"lengte": "veel", "woord": "x"}')

    [summary] = run_task(
        TASK, settings(tmp_path), source=source(2), engine=FakeEngine(fixed_on_repair)
    )
    out = predictions(summary)
    assert [(r["status"], r["lengte"], r["woord"]) for r in out] == [("success", 7, "x")] * 2
    assert all(r["field_errors"] == {} and r["error"] is None for r in out)


def test_nothing_valid_is_a_failure_after_one_whole_repair(tmp_path):
    engine = FakeEngine(lambda request: ok('{"lengte": "veel", "woord": 5}'))
    [summary] = run_task(TASK, settings(tmp_path), source=source(2), engine=engine)
    for rec in predictions(summary):
        assert rec["status"] == "failure"
        assert rec["lengte"] is None and rec["woord"] is None
        assert "lengte" in rec["error"] and "woord" in rec["error"]
    lines = [json.loads(x) for x in (summary.run_dir / "records.jsonl").read_text().splitlines()]
    assert all(x["raw_output"] == '{"lengte": "veel", "woord": 5}' for x in lines)
    assert all(x["attempts"] == 2 for x in lines)  # one repair, never identical retries
    assert {len(r.schema["properties"]) for r in engine.requests} == {2}  # whole answers


def test_empty_text_fails_without_calling_the_engine(tmp_path):
    src = RecordsSource([{"text": ""}, {"text": None}, {"text": "twee woorden"}], "text")
    engine = FakeEngine(answer_length)
    [summary] = run_task(TASK, settings(tmp_path), source=src, engine=engine)
    out = predictions(summary)
    assert [r["status"] for r in out] == ["failure", "failure", "success"]
    assert out[0]["error"] == "empty input text"
    assert len(engine.requests) == 1


def test_crash_then_resume_loses_and_repeats_nothing(tmp_path):
    calls = {"n": 0}

    def dies_after_ten(request):
        calls["n"] += 1
        if calls["n"] > 10:
            raise EngineError("server went away")
        return answer_length(request)

    with pytest.raises(EngineError):
        run_task(
            TASK,
            settings(tmp_path),
            source=source(),
            engine=FakeEngine(dies_after_ten, threaded=False),
        )
    records = tmp_path / "run" / "Task009_fake-run0" / "records.jsonl"
    done_before = {json.loads(x)["row"] for x in records.read_text().splitlines()}
    assert len(done_before) == 10  # every answer that arrived is kept

    engine = FakeEngine(answer_length)
    [summary] = run_task(TASK, settings(tmp_path), source=source(), engine=engine)
    assert summary.reused == 10 and len(engine.requests) == 20
    rows = [json.loads(x)["row"] for x in records.read_text().splitlines()]
    assert sorted(rows) == list(range(30))  # nothing lost, nothing twice
    assert [r["uid"] for r in predictions(summary)] == [f"{i:03d}" for i in range(30)]
    manifest = json.loads((summary.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["reused"] == 10


def test_changed_settings_recompute(tmp_path):
    run_task(TASK, settings(tmp_path), source=source(5), engine=FakeEngine(answer_length))
    engine = FakeEngine(answer_length)
    [summary] = run_task(TASK, settings(tmp_path, temperature=0.5), source=source(5), engine=engine)
    assert summary.reused == 0 and len(engine.requests) == 5
    # a setting that does not change answers (slots) keeps finished rows
    engine = FakeEngine(answer_length)
    [summary] = run_task(
        TASK, settings(tmp_path, temperature=0.5, parallel=2), source=source(5), engine=engine
    )
    assert summary.reused == 5 and not engine.requests


def test_n_runs_write_separate_folders_with_manifests(tmp_path):
    summaries = run_task(
        TASK,
        settings(tmp_path, n_runs=2, run_name="rep"),
        source=source(4),
        engine=FakeEngine(answer_length),
    )
    assert [s.run_dir.name for s in summaries] == ["Task009_fake-run0", "Task009_fake-run1"]
    manifest = json.loads((summaries[1].run_dir / "manifest.json").read_text())
    assert manifest["decoding"]["seed"] == 43
    assert manifest["counts"] == {
        "rows": 4,
        "success": 4,
        "partial": 0,
        "failure": 0,
        "reused": 0,
        "stale_ignored": 0,
        "damaged": 0,
    }
    assert manifest["engine"]["model"] == "fake-model"
    assert len(manifest["prompt_hash"]) == 16 and len(manifest["schema_hash"]) == 16


def test_output_fields_may_not_overwrite_input_columns(tmp_path):
    with pytest.raises(ConfigError, match="'woord'"):
        run_task(
            TASK, settings(tmp_path), source=source(2, woord="x"), engine=FakeEngine(answer_length)
        )


def test_engine_errors_per_request_are_row_failures(tmp_path):
    def too_long(request):
        return Completion.failed("prompt too long: 9000 tokens")

    [summary] = run_task(TASK, settings(tmp_path), source=source(2), engine=FakeEngine(too_long))
    assert [r["error"] for r in predictions(summary)] == ["prompt too long: 9000 tokens"] * 2


def test_rows_that_failed_for_a_passing_reason_run_again_on_resume(tmp_path):
    def busy(request):
        return Completion.failed("HTTP 503 (busy), 5 attempts", transient=True)

    [first] = run_task(TASK, settings(tmp_path), source=source(3), engine=FakeEngine(busy))
    assert first.failures == 3
    engine = FakeEngine(answer_length)
    [second] = run_task(TASK, settings(tmp_path), source=source(3), engine=engine)
    assert second.reused == 0 and len(engine.requests) == 3
    assert [r["status"] for r in predictions(second)] == ["success"] * 3


def test_the_manifest_and_summary_say_which_examples_were_used(tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text(
        "".join(
            json.dumps({"input": f"woord {i}", "output": {"lengte": 7, "woord": "woord"}}) + "\n"
            for i in range(5)
        )
    )
    task = Task("Task009_fake", "Tel de letters.", "text", SCHEMA, example_path=examples)
    engine = FakeEngine(answer_length)
    [auto] = run_task(task, settings(tmp_path), source=source(6), engine=engine)
    assert (auto.num_examples, auto.examples_source) == (3, str(examples))
    assert all(len(r.messages) == 1 + 2 * 3 + 1 for r in engine.requests)
    shown = json.loads((auto.run_dir / "manifest.json").read_text())["examples"]
    assert shown["num_examples"] == 3 and shown["source"] == str(examples)
    assert shown["requested"] == "auto" and shown["available"] == 5
    # "auto" and the number it stood for are the same run: nothing is recomputed
    [same] = run_task(task, settings(tmp_path, num_examples=3), source=source(6), engine=engine)
    assert same.reused == 6
    [off] = run_task(task, settings(tmp_path, num_examples=0), source=source(6), engine=engine)
    assert off.reused == 0 and off.num_examples == 0 and off.examples_source is None
    shown = json.loads((off.run_dir / "manifest.json").read_text())["examples"]
    assert shown["num_examples"] == 0 and shown["source"] is None


def test_an_engine_that_never_answers_stops_the_run_after_the_wait_timeout(tmp_path):
    import threading

    never = threading.Event()
    engine = FakeEngine(lambda request: never.wait() and ok("{}"), capacity=2)
    started = time.monotonic()
    with pytest.raises(EngineError, match="no answer from the fake engine in 0.3 s"):
        run_task(TASK, settings(tmp_path, wait_timeout=0.3), source=source(4), engine=engine)
    assert time.monotonic() - started < 10
    never.set()
    engine.close()


def test_a_data_file_without_rows_stops_before_the_engine_starts(tmp_path):
    (tmp_path / "r.csv").write_text("uid,text\n")
    task = Task("Task009_fake", "Tel.", "text", SCHEMA, data_path=tmp_path / "r.csv")
    with pytest.raises(ConfigError, match="no rows to extract"):
        run_task(task, settings(tmp_path, engine="openai", base_url=["http://127.0.0.1:9"]))


def test_a_ragged_row_anywhere_stops_before_the_engine_starts(tmp_path):
    rows = "".join(f"{n},report {n}\n" for n in range(50))
    (tmp_path / "r.csv").write_text("uid,text\n" + rows + "51,one,too many\n")
    task = Task("Task009_fake", "Tel.", "text", SCHEMA, data_path=tmp_path / "r.csv")
    with pytest.raises(ConfigError, match="line 52 has 3 cells"):  # no engine at :9 is tried
        run_task(task, settings(tmp_path, engine="openai", base_url=["http://127.0.0.1:9"]))


def test_a_run_past_the_report_limit_writes_no_report_and_says_how(tmp_path, monkeypatch):
    from clinextract import pipeline

    said: list[str] = []
    monkeypatch.setattr(pipeline, "REPORT_AUTO_ROWS", 4)
    [big] = run_task(TASK, settings(tmp_path), source=source(5), engine=FakeEngine(answer_length))
    assert not (big.run_dir / "report.html").exists()
    [small] = run_task(
        TASK,
        settings(tmp_path, run_name="small"),
        source=source(4),
        engine=FakeEngine(answer_length),
        on_status=said.append,
    )
    assert (small.run_dir / "report.html").is_file() and not any("no report" in s for s in said)
    run_task(
        TASK,
        settings(tmp_path, run_name="again", overwrite=True),
        source=source(5),
        engine=FakeEngine(answer_length),
        on_status=said.append,
    )
    assert any(
        "5 rows: no report.html (more than 4)" in s and "clinextract report" in s for s in said
    )
