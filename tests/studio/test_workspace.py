"""Saving and opening tasks, uploads, data previews, and the Task page's draft model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinextract.errors import ConfigError
from clinextract.settings import Settings
from clinextract.studio import draft as drafts
from clinextract.studio import workspace
from clinextract.studio.schema_builder import FieldSpec, fields_to_schema, schema_to_fields
from clinextract.task import load_task
from tests.studio.helpers import make_workspace, write_task

TWO_FIELDS = [
    FieldSpec("side", "choice", choices=["left", "right"]),
    FieldSpec("size_mm", "number", required=False),
]


def save(settings, **changes):  # noqa: ANN001, ANN201 - test helper
    args = dict(
        number=3,
        name="Lung nodules (CT)",
        description="Find the nodule.",
        data_path="reports.csv",
        input_field="text",
        schema=fields_to_schema(TWO_FIELDS),
    )
    args.update(changes)
    return workspace.save_task(settings, **args)


def test_save_task_writes_a_task_and_schema_that_load_task_reads(
    tmp_path: Path, settings: Settings
) -> None:
    task = save(settings, example_path="examples.jsonl", id_field="id")
    path = settings.task_dir / "Task003_lung_nodules_ct.json"
    assert task.source == path
    spec = json.loads(path.read_text())
    assert spec == {
        "Description": "Find the nodule.",
        "Data_Path": "reports.csv",
        "Input_Field": "text",
        "Parser_Format": "Task003_lung_nodules_ct.json",
        "Example_Path": "examples.jsonl",
        "Id_Field": "id",
    }
    assert (settings.task_dir / "parsers" / "Task003_lung_nodules_ct.json").is_file()
    loaded = load_task(3, settings)  # the way `clinextract run --task-id 3` finds it
    assert loaded.schema.field_names == ("side", "size_mm")
    assert loaded.data_path == settings.data_dir / "reports.csv"
    assert schema_to_fields(loaded.schema) == TWO_FIELDS


def test_a_taken_number_is_refused_and_editing_may_rename(
    tmp_path: Path, settings: Settings
) -> None:
    first = save(settings)
    with pytest.raises(ConfigError, match="task number 3 is taken by Task003_lung_nodules_ct"):
        save(settings, name="other")
    renamed = save(settings, name="nodules", replaces=first.source)
    assert [t.label for t in workspace.list_tasks(settings.task_dir)] == ["Task003_nodules.json"]
    assert load_task(3, settings).source == renamed.source
    assert workspace.next_task_number(settings.task_dir) == 4


def test_nothing_is_written_for_an_invalid_schema_or_missing_parts(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="object with 'properties'"):
        save(settings, schema={"type": "object", "properties": {}})
    with pytest.raises(ConfigError, match="description"):
        save(settings, description="  ")
    with pytest.raises(ConfigError, match="report text"):
        save(settings, input_field="")
    assert workspace.list_tasks(settings.task_dir) == []
    assert not (settings.task_dir / "parsers").exists()


def test_keep_parser_leaves_an_existing_schema_file_alone(
    tmp_path: Path, settings: Settings
) -> None:
    original = write_task(settings, number=1, name="old")
    parser = settings.task_dir / "parsers" / "Task001_old.json"
    before = parser.read_text()
    save(
        settings,
        number=1,
        name="old",
        schema=None,
        keep_parser="Task001_old.json",
        replaces=original,
        description="New words.",
    )
    assert parser.read_text() == before
    assert load_task(1, settings).description == "New words."


def test_save_upload_never_overwrites_other_content(tmp_path: Path) -> None:
    assert workspace.save_upload(tmp_path, "../a.csv", b"x\n1\n") == "a.csv"
    assert workspace.save_upload(tmp_path, "a.csv", b"x\n1\n") == "a.csv"  # same content
    assert workspace.save_upload(tmp_path, "a.csv", b"x\n2\n") == "a_1.csv"
    assert (tmp_path / "a.csv").read_bytes() == b"x\n1\n"
    with pytest.raises(ConfigError, match="use one of"):
        workspace.save_upload(tmp_path, "notes.txt", b"hi")


def test_preview_reads_like_a_run_and_guesses_the_text_column(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(
        "id,report_body,n\n007,a long report text here,1\n", encoding="utf-8"
    )
    preview = workspace.preview(tmp_path / "d.csv")
    assert preview.columns == ["id", "report_body", "n"]
    assert preview.rows == [{"id": "007", "report_body": "a long report text here", "n": "1"}]
    assert preview.text_column == "report_body"
    (tmp_path / "bad.csv").write_bytes(b"id,text\n1,caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        workspace.preview(tmp_path / "bad.csv")
    assert workspace.list_data_files(tmp_path) == ["bad.csv", "d.csv"]


def test_settings_travel_through_the_environment(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    monkeypatch.setenv(workspace.ENV_SETTINGS, workspace.settings_env(settings))
    again = workspace.base_settings()
    assert (again.task_dir, again.output_dir) == (settings.task_dir, settings.output_dir)


def test_draft_fields_add_move_remove_and_read_back() -> None:
    draft = drafts.new_draft(2)
    values: dict = {}
    for spec in [
        FieldSpec("a", "text"),
        FieldSpec("g", "group", children=[FieldSpec("x", "integer")]),
    ]:
        drafts.add_field(draft, draft["tree"], values, spec)
    assert values["f2-1.name"] == "a" and values["f2-3.name"] == "x"

    def read(key: str, default):  # noqa: ANN001, ANN202
        return values.get(key, default)

    assert drafts.specs(draft["tree"], read)[1].children == [FieldSpec("x", "integer")]
    drafts.move_field(draft["tree"], "2-1", 1)
    assert [f.name for f in drafts.specs(draft["tree"], read)] == ["g", "a"]
    assert drafts.remove_field(draft["tree"], "2-3")
    assert drafts.specs(draft["tree"], read)[0].children == []
    blank = drafts.add_field(draft, draft["tree"], values)
    assert drafts.specs([blank], read) == [FieldSpec("", "text")]


def test_a_loaded_constraint_is_dropped_when_the_type_changes() -> None:
    draft = drafts.new_draft(1)
    values: dict = {}
    drafts.add_field(
        draft, draft["tree"], values, FieldSpec("age", "integer", extra={"minimum": 0})
    )
    assert drafts.specs(draft["tree"], lambda k, d: values.get(k, d))[0].extra == {"minimum": 0}
    values["f1-1.kind"] = "text"
    assert drafts.specs(draft["tree"], lambda k, d: values.get(k, d))[0].extra == {}
