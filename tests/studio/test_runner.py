"""The Studio's background run and the pipeline's cooperative cancel.

Unit tests: the FakeEngine from fakes.py stands in for the model (a fake, so answers and
timing are controlled); the pipeline, store and validation are the real ones. The real
model runs through the Run page in test_studio_run.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from clinextract.engines.base import Completion, Request
from clinextract.pipeline import RunCancelled, run_task
from clinextract.settings import Settings
from clinextract.studio import runner
from clinextract.task import load_task
from tests.fakes import FakeEngine
from tests.studio.helpers import fake_answer, write_task


@pytest.fixture(autouse=True)
def no_leftover_job():
    runner.forget_finished()
    yield
    job = runner.current_job()
    if job is not None:
        job.cancel()
        job.wait(30)
    runner.forget_finished()


def test_should_stop_cancels_keeps_finished_rows_and_resumes(
    tmp_path: Path, settings: Settings
) -> None:
    seen = []

    def stop_after_two() -> bool:
        return len(seen) >= 2

    task = load_task(write_task(settings), settings)
    engine = FakeEngine(fake_answer, capacity=1, threaded=False)
    with pytest.raises(RunCancelled, match="cancelled after 2 of 4 rows"):
        run_task(
            task,
            settings,
            engine=engine,
            on_progress=lambda p, r: seen.append(r),
            should_stop=stop_after_two,
        )
    run_dir = settings.output_dir / "run" / "Task001_lesions-run0"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert len((run_dir / "records.jsonl").read_text().splitlines()) == 2
    assert not (run_dir / "nlp-predictions-dataset.json").exists()
    summary = run_task(task, settings, engine=engine)[0]  # resume
    assert (summary.reused, summary.rows) == (2, 4)
    assert len(engine.requests) == 2 + 2 + 1  # r4 is repaired once


def test_a_job_runs_in_the_background_and_reports_counts(
    tmp_path: Path, settings: Settings
) -> None:
    task = load_task(write_task(settings), settings)
    job = runner.start_job(
        task, settings, engine=FakeEngine(fake_answer, capacity=2, threaded=True)
    )
    snap = job.wait(30)
    assert snap.state == runner.DONE, snap.error
    assert (snap.total, snap.done, snap.successes, snap.failures) == (4, 4, 3, 1)
    assert snap.summaries[0].predictions_path.is_file()
    assert snap.run_dirs == (settings.output_dir / "run" / "Task001_lesions-run0",)


def test_first_rows_limits_the_run(tmp_path: Path, settings: Settings) -> None:
    task = load_task(write_task(settings), settings)
    assert len(runner.task_source(task, settings)) == 4
    job = runner.start_job(
        task, settings, first_rows=2, engine=FakeEngine(fake_answer, threaded=False)
    )
    snap = job.wait(30)
    assert (snap.state, snap.total) == (runner.DONE, 2)
    items = json.loads(snap.summaries[0].predictions_path.read_text())
    assert [i["id"] for i in items] == ["r1", "r2"]


def test_cancel_stops_a_job_and_a_second_job_waits_its_turn(
    tmp_path: Path, settings: Settings
) -> None:
    task = load_task(write_task(settings), settings)
    gate = threading.Event()

    def slow(request: Request) -> Completion:
        gate.wait(10)
        return fake_answer(request)

    job = runner.start_job(task, settings, engine=FakeEngine(slow, capacity=1))
    with pytest.raises(Exception, match="still going"):
        runner.start_job(task, settings, engine=FakeEngine(slow, capacity=1))
    job.cancel()
    gate.set()
    snap = job.wait(30)
    assert snap.state == runner.CANCELLED
    assert "finished rows are saved" in snap.error
    assert snap.done < 4


def test_errors_are_reported_plainly_never_as_success(tmp_path: Path, settings: Settings) -> None:
    task = load_task(write_task(settings, data="missing.csv"), settings)
    snap = runner.start_job(task, settings, engine=FakeEngine(fake_answer)).wait(30)
    assert snap.state == runner.FAILED
    assert snap.error.startswith("error: data file not found")

    def broken(request: Request) -> Completion:
        raise RuntimeError("the engine fell over")

    task = load_task(write_task(settings), settings)
    snap = runner.start_job(task, settings, engine=FakeEngine(broken, threaded=False)).wait(30)
    assert snap.state == runner.FAILED
    assert "the engine fell over" in snap.error and snap.summaries == ()
