"""The Run page (AppTest): a run of the real bundled model through the same pipeline as
the CLI, live progress, cancel, and errors shown plainly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clinextract.studio import runner
from tests.studio.helpers import APP, make_workspace, use_workspace, write_task

ROWS = [
    {"id": "a", "text": "CT: 8 mm nodule in the left lung, benign appearance."},
    {"id": "b", "text": "X-ray: large mass in the right lung, suspicious for cancer."},
    {"id": "c", "text": "MRI: lesion in the right kidney."},
    {"id": "d", "text": "Ultrasound: cyst in the left ovary."},
]
SCHEMA = {
    "type": "object",
    "properties": {
        "side": {"type": "string", "enum": ["left", "right"]},
        "malignant": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
    },
    "required": ["side"],
}


@pytest.fixture(autouse=True)
def one_job_at_a_time():
    runner.forget_finished()
    yield
    job = runner.current_job()
    if job is not None:
        job.cancel()
        job.wait(120)
    runner.forget_finished()


def run_page(monkeypatch, tmp_path: Path) -> AppTest:  # noqa: ANN001
    settings = make_workspace(tmp_path, ROWS)
    write_task(settings, number=1, name="sides", schema=SCHEMA)
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/run.py").run()
    assert not at.exception, at.exception
    return at


def start(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, at.exception


def wait_until_finished(at: AppTest, timeout: float = 200) -> list[str]:
    """Redraw the page every half second (as the live fragment does) until the run ends;
    returns the headings it showed on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        seen.extend(s.value for s in at.subheader)
        job = runner.current_job()
        if job is not None and job.snapshot().finished:
            at.run()
            return seen
        time.sleep(0.5)
    raise AssertionError(f"the run did not finish in {timeout} s: {seen[-3:]}")


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_errors_are_shown_plainly(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    at = run_page(monkeypatch, tmp_path)
    # a setting the Settings object refuses: no run starts
    at.text_input(key="run.model.embedded").input(str(tmp_path / "nope.gguf"))
    start(at)
    assert [e.value for e in at.error] == [f"model file not found: {tmp_path / 'nope.gguf'}"]
    assert runner.current_job() is None

    # an error inside the run (its data file is gone): the run fails, and says why
    (tmp_path / "data" / "reports.csv").unlink()
    at.text_input(key="run.model.embedded").input("")
    start(at)
    wait_until_finished(at, timeout=60)
    assert runner.current_job().snapshot().state == runner.FAILED
    assert any("error: data file not found" in e.value for e in at.error), [
        e.value for e in at.error
    ]
    assert not at.success
    assert any(s.value.endswith(": failed") for s in at.subheader)


@pytest.mark.model
def test_run_the_bundled_model_with_live_progress(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    at = run_page(monkeypatch, tmp_path)
    assert "fields: side, malignant" in at.caption[0].value
    at.number_input(key="run.first_rows").set_value(2)
    at.number_input(key="run.parallel").set_value(2)
    at.number_input(key="run.max_tokens").set_value(64)
    at.text_input(key="run.run_name").input("studio")
    start(at)
    assert next(b for b in at.button if b.label == "Start").disabled  # one run at a time
    seen = wait_until_finished(at)
    assert any(s.endswith((": starting", ": running")) for s in seen), seen
    assert not at.error, [e.value for e in at.error]
    assert "Finished:" in at.success[0].value
    assert metric(at, "Done") == "2"

    run_dir = tmp_path / "output" / "studio" / "Task001_sides-run0"
    items = json.loads((run_dir / "nlp-predictions-dataset.json").read_text())
    assert [i["id"] for i in items] == ["a", "b"]  # only the first two rows
    assert all(i["status"] in ("success", "failure") for i in items)
    assert all(i["side"] in ("left", "right", None) for i in items)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["settings"]["parallel"] == 2 and manifest["settings"]["max_tokens"] == 64
    assert int(metric(at, "Success")) == manifest["counts"]["success"]


@pytest.mark.model
def test_cancel_stops_the_run_and_keeps_it_resumable(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    at = run_page(monkeypatch, tmp_path)
    at.number_input(key="run.parallel").set_value(1)
    start(at)
    cancel = next(b for b in at.button if b.label == "Cancel")
    cancel.click().run()
    wait_until_finished(at)
    snap = runner.current_job().snapshot()
    assert snap.state == runner.CANCELLED
    assert snap.done < len(ROWS)
    assert any("finished rows are saved" in w.value for w in at.warning)
    assert not (
        tmp_path / "output" / "run" / "Task001_sides-run0" / "nlp-predictions-dataset.json"
    ).exists()


def add_examples(task_path: Path, folder: Path, n: int = 4) -> Path:
    """Give the task an Example_Path with n examples (in the workspace's example folder)."""
    examples = folder / "side_examples.json"
    rows = [
        {"input": f"{side} lung: nodule.", "output": {"side": side}} for side in ("left", "right")
    ]
    examples.write_text(json.dumps((rows * n)[:n]), encoding="utf-8")
    spec = json.loads(task_path.read_text(encoding="utf-8"))
    task_path.write_text(json.dumps({**spec, "Example_Path": examples.name}), encoding="utf-8")
    return examples


def examples_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Few-shot examples: "))


def test_the_page_shows_how_many_examples_a_run_will_use(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from clinextract import pipeline
    from tests.fakes import FakeEngine, ok

    at = run_page(monkeypatch, tmp_path)
    assert examples_caption(at) == "Few-shot examples: none (auto: the task has no examples)"
    examples = add_examples(tmp_path / "tasks" / "Task001_sides.json", tmp_path / "data")
    at.run()
    assert examples_caption(at) == (
        f"Few-shot examples: 3 per report (auto) from {examples} (4 in all)"
    )
    at.text_input(key="run.num_examples").input("1").run()
    assert examples_caption(at).startswith("Few-shot examples: 1 per report from")
    at.text_input(key="run.num_examples").input("many").run()
    assert "expected a number of examples (0 = none) or 'auto'" in examples_caption(at)

    # a run with no example settings (auto) uses them, as the manifest says
    engine = FakeEngine(lambda request: ok('{"side":"left","malignant":null}'))
    monkeypatch.setattr(pipeline, "create_engine", lambda settings: engine)
    at.text_input(key="run.num_examples").input("auto").run()
    start(at)
    wait_until_finished(at, timeout=60)
    manifest = json.loads(
        (tmp_path / "output" / "run" / "Task001_sides-run0" / "manifest.json").read_text()
    )
    assert manifest["examples"]["num_examples"] == 3
    assert manifest["examples"]["source"] == str(examples)
    assert all(len(r.messages) == 1 + 2 * 3 + 1 for r in engine.requests)
