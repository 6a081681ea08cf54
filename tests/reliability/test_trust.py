"""Untrusted code: a `.py` parser runs Python code when it is loaded. `--no-code` refuses
it (and runs none of it); the Studio never runs one, and takes no `.py` upload."""

from __future__ import annotations

import json

import pytest

from clinextract.errors import ConfigError
from clinextract.settings import Settings
from clinextract.studio import workspace
from clinextract.task import load_task
from tests.reliability.helpers import make_reports, one_line_error, run_cli, write_task

PARSER = """
from pathlib import Path
Path(__file__).with_name("ran").write_text("this code ran")
from pydantic import BaseModel
class OutputParser(BaseModel):
    value: int | None = None
"""


@pytest.fixture
def code_task(tmp_path):
    root = write_task(tmp_path, make_reports(2))
    (root / "tasks" / "parsers").mkdir()
    (root / "tasks" / "parsers" / "value.py").write_text(PARSER)
    task = json.loads((root / "tasks" / "Task001_rel.json").read_text())
    task["Parser_Format"] = "value.py"
    (root / "tasks" / "Task001_rel.json").write_text(json.dumps(task))
    return root


def test_no_code_refuses_a_python_parser_without_running_it(code_task):
    proc = run_cli(code_task, "--no-code")
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert line and "value.py is Python code" in line and "--no-code" in line
    assert not (code_task / "tasks" / "parsers" / "ran").exists()


def test_without_no_code_the_parser_is_loaded_and_so_runs(code_task):
    settings = Settings(task_dir=code_task / "tasks", data_dir=code_task / "data")
    assert load_task(1, settings).schema.field_names == ("value",)
    assert (code_task / "tasks" / "parsers" / "ran").exists()


def test_the_studio_runs_no_python_parser_and_takes_no_py_upload(code_task, monkeypatch):
    monkeypatch.setenv(
        workspace.ENV_SETTINGS, Settings(task_dir=code_task / "tasks").model_dump_json()
    )
    settings = workspace.base_settings()
    assert settings.no_code
    task_file = code_task / "tasks" / "Task001_rel.json"
    with pytest.raises(ConfigError, match="Python code"):
        workspace.task_schema(workspace.read_task_spec(task_file), task_file)
    with pytest.raises(ConfigError, match="Python code"):
        load_task(task_file, settings.model_copy(update={"data_dir": code_task / "data"}))
    with pytest.raises(ConfigError):
        workspace.save_upload(code_task / "data", "parser.py", b"print('x')")
    assert not (code_task / "tasks" / "parsers" / "ran").exists()
