"""The Task page (AppTest): build a schema, save, open and edit; and a task saved by the
Studio run unchanged by the real `clinextract run` with the bundled model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clinextract.settings import Settings
from clinextract.studio.schema_builder import FieldSpec, schema_to_fields
from clinextract.task import load_task
from tests.studio.helpers import APP, make_workspace, use_workspace, write_task


def open_task_page(monkeypatch, settings: Settings) -> AppTest:  # noqa: ANN001
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):  # noqa: ANN201
    return next(b for b in at.button if b.label == label)


def build_two_fields(at: AppTest, gen: int = 1) -> None:
    at.text_input(key=f"f{gen}-1.name").input("side")
    at.selectbox(key=f"f{gen}-1.kind").select("choice").run()
    at.text_input(key=f"f{gen}-1.choices").input("left, right")
    at.text_input(key=f"f{gen}-1.desc").input("Side of the lesion")
    button(at, "Add field").click().run()
    at.text_input(key=f"f{gen}-2.name").input("malignant")
    at.selectbox(key=f"f{gen}-2.kind").select("yes/no")
    at.checkbox(key=f"f{gen}-2.req").uncheck()
    at.text_area(key=f"t{gen}.description").input(
        "Find the side of the lesion and whether it is malignant."
    )
    at.text_input(key=f"t{gen}.name").input("Lesion side")
    at.run()


def test_build_a_two_field_schema_and_save_it(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    at = open_task_page(monkeypatch, settings)
    assert at.selectbox(key="t1.data_file").value == "reports.csv"
    assert at.selectbox(key="t1.text_column").value == "text"  # guessed
    build_two_fields(at)
    button(at, "Save task").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Saved" in at.success[0].value
    assert "--task-id 1" in at.code[-1].value

    task = load_task(1, settings)
    assert task.source.name == "Task001_lesion_side.json"
    assert task.input_field == "text" and task.data_path == settings.data_dir / "reports.csv"
    assert schema_to_fields(task.schema) == [
        FieldSpec("side", "choice", description="Side of the lesion", choices=["left", "right"]),
        FieldSpec("malignant", "yes/no", required=False),
    ]


def test_problems_are_shown_and_nothing_is_written(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    at = open_task_page(monkeypatch, settings)
    at.text_input(key="f1-1.name").input("id")  # a column of the dataset
    at.text_area(key="t1.description").input("Anything.")
    at.run()
    button(at, "Save task").click().run()
    assert "dataset already has a column 'id'" in at.error[0].value
    assert not list(settings.task_dir.glob("*.json"))


def test_open_an_existing_task_edit_and_rename_it(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    write_task(settings, number=1, name="lesions")
    at = open_task_page(monkeypatch, settings)
    at.selectbox(key="open_task").select("Task001_lesions.json").run()
    assert at.text_input(key="f2-1.name").value == "side"
    assert at.text_input(key="f2-1.choices").value == "left, right, none"
    assert at.selectbox(key="f2-2.kind").value == "number"
    assert at.checkbox(key="f2-2.req").value is False
    assert at.selectbox(key="t2.id_column").value == "id"
    assert at.number_input(key="t2.number").value == 1

    button(at, "Add field").click().run()
    at.text_input(key="f2-3.name").input("count")
    at.selectbox(key="f2-3.kind").select("integer")
    at.text_input(key="t2.name").input("lesions v2")
    at.run()
    button(at, "Save task").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [p.name for p in settings.task_dir.glob("*.json")] == ["Task001_lesions_v2.json"]
    task = load_task(1, settings)
    assert task.schema.field_names == ("side", "size_mm", "count")
    assert task.id_field == "id"


def test_a_schema_the_builder_cannot_show_is_kept(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    odd = {
        "type": "object",
        "properties": {"x": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
    }
    write_task(settings, number=2, name="odd", schema=odd)
    at = open_task_page(monkeypatch, settings)
    at.selectbox(key="open_task").select("Task002_odd.json").run()
    assert "builder is off" in at.info[0].value
    at.text_area(key="t2.description").input("New description.").run()
    button(at, "Save task").click().run()
    assert not at.error, [e.value for e in at.error]
    spec = json.loads((settings.task_dir / "Task002_odd.json").read_text())
    assert spec["Parser_Format"] == "Task002_odd.json" and spec["Description"] == "New description."
    assert json.loads((settings.task_dir / "parsers" / "Task002_odd.json").read_text()) == odd


def test_upload_a_dataset(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    at = open_task_page(monkeypatch, settings)
    at.radio(key="t1.data_mode").set_value("Upload a file").run()
    rows = b'{"uid": 1, "report": "Echo: normal."}\n{"uid": 2, "report": "MRI: mass."}\n'
    at.file_uploader(key="t1.upload").set_value(("notes.jsonl", rows, "application/json")).run()
    assert not at.error, [e.value for e in at.error]
    assert (settings.data_dir / "notes.jsonl").read_bytes() == rows
    assert at.selectbox(key="t1.text_column").options == ["uid", "report"]
    assert at.selectbox(key="t1.text_column").value == "report"


@pytest.mark.model
def test_a_task_saved_in_the_studio_runs_with_clinextract_run(
    monkeypatch,
    tmp_path: Path,
    cli_env: dict,  # noqa: ANN001
) -> None:
    rows = [
        {"id": "a", "text": "CT: 8 mm nodule in the left lung, benign appearance."},
        {"id": "b", "text": "X-ray: large mass in the right lung, suspicious for cancer."},
    ]
    settings = make_workspace(tmp_path, rows)
    at = open_task_page(monkeypatch, settings)
    build_two_fields(at)
    button(at, "Save task").click().run()
    assert not at.error, [e.value for e in at.error]

    command = [
        str(Path(sys.executable).parent / "clinextract"),
        "run",
        "--task-dir",
        "tasks",
        "--task-id",
        "1",
        "--data-dir",
        "data",
        "--output-dir",
        "output",
        "--run-name",
        "cli",
        "--parallel",
        "2",
        "--max-tokens",
        "64",
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "output" / "cli" / "Task001_lesion_side-run0"
    items = json.loads((out / "nlp-predictions-dataset.json").read_text())
    assert [i["id"] for i in items] == ["a", "b"]
    for item in items:
        assert item["status"] in ("success", "failure")
        if item["status"] == "success":
            assert item["side"] in ("left", "right")
            assert item["malignant"] in (True, False, None)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
