"""`clinextract studio`: options, the private server configuration, a missing extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clinextract.cli import cli
from clinextract.studio import launch
from clinextract.studio.workspace import ENV_SETTINGS


def test_help_lists_host_port_and_folders_only() -> None:
    result = CliRunner().invoke(cli, ["studio", "--help"])
    assert result.exit_code == 0, result.output
    for option in (
        "--host",
        "--port",
        "--task-dir",
        "--data-dir",
        "--example-dir",
        "--output-dir",
        "127.0.0.1",
        "8501",
    ):
        assert option in result.output
    assert "--engine" not in result.output and "--temperature" not in result.output


def test_the_server_is_local_and_private() -> None:
    args = launch.streamlit_args("127.0.0.1", 8600)
    assert args[:2] == ["run", str(launch.APP)] and launch.APP.is_file()
    for flag in (
        "--server.address=127.0.0.1",
        "--server.port=8600",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--global.developmentMode=false",
    ):
        assert flag in args


def test_launch_hands_the_folders_to_the_app(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """Streamlit's own `main` is replaced by a recorder (a fake: no server starts)."""
    from streamlit.web import cli as streamlit_cli

    calls = []
    monkeypatch.setattr(streamlit_cli, "main", lambda **kwargs: calls.append(kwargs) or None)
    monkeypatch.delenv(ENV_SETTINGS, raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "studio",
            "--port",
            "8601",
            "--task-dir",
            str(tmp_path / "t"),
            "--output-dir",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["args"] == launch.streamlit_args("127.0.0.1", 8601)
    passed = json.loads(launch.os.environ[ENV_SETTINGS])
    assert passed["task_dir"] == str(tmp_path / "t") and passed["output_dir"] == str(tmp_path / "o")
    assert passed["data_dir"] == "data"  # the same default as `clinextract run`
    monkeypatch.delenv(ENV_SETTINGS)


def test_a_missing_extra_is_one_clear_line(monkeypatch) -> None:  # noqa: ANN001
    real = launch.importlib.util.find_spec
    monkeypatch.setattr(
        launch.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    result = CliRunner().invoke(cli, ["studio"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'clinextract[studio]'" in lines[0]


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_bad_port_is_refused(port: str) -> None:
    result = CliRunner().invoke(cli, ["studio", "--port", port])
    assert result.exit_code == 2 and "--port must be between" in result.output
