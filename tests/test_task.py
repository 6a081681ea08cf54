"""Task files: finding them, reading them, and one-line errors when they are broken."""

from __future__ import annotations

import json

import pytest

from clinextract.errors import ConfigError
from clinextract.settings import Settings
from clinextract.task import find_task_file, load_task

SPEC = {
    "Description": "d",
    "Data_Path": "x.csv",
    "Input_Field": "text",
    "Parser_Format": {"a": {"type": "str"}},
}


def test_task_id_matches_the_number_not_a_prefix(tmp_path):
    for name in ("Task001_a.json", "Task0011_b.json", "Task010_c.json"):
        (tmp_path / name).write_text(json.dumps(SPEC))
    assert find_task_file(1, tmp_path).name == "Task001_a.json"
    assert find_task_file(10, tmp_path).name == "Task010_c.json"
    with pytest.raises(ConfigError, match="no task file Task002"):
        find_task_file(2, tmp_path)


def test_load_task_resolves_paths_from_settings(tmp_path):
    (tmp_path / "Task003_x.json").write_text(
        json.dumps({**SPEC, "Example_Path": "ex.json", "Id_Field": "nr"})
    )
    task = load_task("3", Settings(task_dir=tmp_path, data_dir=tmp_path / "d"))
    assert task.name == "Task003_x"
    assert task.data_path == tmp_path / "d" / "x.csv"
    assert task.example_path.name == "ex.json" and task.id_field == "nr"


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "invalid JSON at line 1"),
        ("[]", "must be a JSON object"),
        (json.dumps({k: v for k, v in SPEC.items() if k != "Input_Field"}), "Input_Field"),
        (json.dumps({**SPEC, "Parser_Fromat": "x"}), "unknown key"),
        (json.dumps({**SPEC, "Parser_Format": "nope.py"}), "not found"),
        (json.dumps({**SPEC, "Description": 3}), "Description must be a string"),
    ],
)
def test_broken_task_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "Task001_bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_task(path, Settings())
    assert str(path) in str(info.value) and "\n" not in str(info.value)
