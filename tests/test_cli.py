"""The command line: exit codes and one-line errors (no model is loaded here)."""

from __future__ import annotations

import json
import subprocess

import pytest

SPEC = {
    "Description": "d",
    "Data_Path": "r.csv",
    "Input_Field": "text",
    "Parser_Format": {"a": {"type": "str"}},
}


def run(args, cwd, env, prog="clinextract"):
    cmd = [prog, "run", *args] if prog == "clinextract" else [prog, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "tasks" / "Task001_ok.json").write_text(json.dumps(SPEC))
    (tmp_path / "data" / "r.csv").write_text("id,text\n1,a\n")
    return tmp_path


def one_error_line(proc):
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "task_json, data, message",
    [
        ("{broken", None, "Task001_ok.json: invalid JSON"),
        (json.dumps({**SPEC, "Data_Path": "missing.csv"}), None, "data file not found"),
        (json.dumps({**SPEC, "Input_Field": "body"}), None, "no column 'body'"),
        (None, "id,text\n1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_config_errors_exit_2_with_one_line(workdir, cli_env, task_json, data, message):
    if task_json is not None:
        (workdir / "tasks" / "Task001_ok.json").write_text(task_json)
    if data is not None:
        (workdir / "data" / "r.csv").write_bytes(data)
    proc = run(["--task-id", "1"], workdir, cli_env)
    assert proc.returncode == 2
    assert message in one_error_line(proc)


def test_unknown_flag_and_missing_task_are_usage_errors(workdir, cli_env):
    assert run(["--task-id", "1", "--no-such-flag"], workdir, cli_env).returncode == 2
    proc = run(["--task-id", "7"], workdir, cli_env)
    assert proc.returncode == 2 and "no task file Task007" in one_error_line(proc)
    proc = run(["--task-id", "1", "--parallel", "0"], workdir, cli_env)
    assert proc.returncode == 2 and "--parallel" in one_error_line(proc)


def test_extractinator_spellings_and_alias_reach_the_same_settings(workdir, cli_env):
    # a missing model file is reported after the options parsed: proof they were accepted
    args = [
        "--task_id",
        "1",
        "--model_name",
        "nope.gguf",
        "--num_predict",
        "64",
        "--num_examples",
        "0",
        "--run_name",
        "x",
        "--n_runs",
        "1",
        "--task_dir",
        "tasks",
        "--data_dir",
        "data",
        "--output_dir",
        "out",
    ]
    for prog in ("clinextract", "extractinate"):
        proc = run(args, workdir, cli_env, prog=prog)
        assert proc.returncode == 2
        assert "model file not found: nope.gguf" in one_error_line(proc)


def test_help_lists_the_settings(cli_env, tmp_path):
    proc = subprocess.run(
        ["clinextract", "run", "--help"], env=cli_env, capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0
    for flag in ("--parallel", "--max-tokens", "--num-examples", "--engine", "--overwrite"):
        assert flag in proc.stdout


def test_a_command_whose_extra_is_missing_names_the_extra(monkeypatch):
    """Not "No such command": the command is listed and says what to install."""
    from click.testing import CliRunner

    from clinextract import cli

    monkeypatch.setitem(cli.LAZY_COMMANDS, "studio", ("json.not_installed_here:cmd", "studio"))
    listed = CliRunner().invoke(cli.cli, ["--help"])
    assert "studio" in listed.output and "needs the 'studio' extra" in listed.output
    done = CliRunner().invoke(cli.cli, ["studio", "--port", "1"])
    assert done.exit_code == 2
    assert "pip install 'clinextract[studio]'" in done.output
    assert "No such command" not in done.output


def test_parquet_without_pyarrow_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import sys

    from clinextract.data import DataSource
    from clinextract.errors import MissingExtra

    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtra, match=r"clinextract\[parquet\]"):
        DataSource(tmp_path / "r.parquet", "text")


def test_num_examples_is_auto_or_a_number(workdir, cli_env):
    proc = run(["--task-id", "1", "--num-examples", "some"], workdir, cli_env)
    assert proc.returncode == 2 and "'some' is not a number or auto" in proc.stderr
    proc = run(["--task-id", "1", "--num-examples", "-1"], workdir, cli_env)
    assert proc.returncode == 2
    assert "--num-examples: expected a number of examples" in one_error_line(proc)
    # accepted: the run gets as far as the (missing) model file
    for value in ("auto", "AUTO", "2"):
        proc = run(
            ["--task-id", "1", "--num-examples", value, "--model", "x.gguf"], workdir, cli_env
        )
        assert proc.returncode == 2 and "model file not found" in one_error_line(proc)
