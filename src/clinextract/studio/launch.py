"""`clinextract studio`: start the Studio's Streamlit server on this machine.

Binds 127.0.0.1 by default, sends no usage statistics, opens no browser and watches no
files. The folders come from the same Settings fields as `clinextract run`'s options and
reach the app through one environment variable.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import click

from ..cli_common import run_guarded, settings_from, settings_options
from ..errors import ConfigError, MissingExtra
from ..settings import Settings
from .workspace import ENV_SETTINGS, PATH_FIELDS, settings_env

APP = Path(__file__).with_name("app.py")


def streamlit_flags(host: str, port: int) -> dict[str, Any]:
    """Streamlit's config for a local, private server."""
    return {
        "server.address": host,
        "server.port": port,
        "server.headless": True,  # no browser, no e-mail prompt
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,  # no telemetry
        "browser.serverAddress": host,
        "browser.serverPort": port,
        "global.developmentMode": False,
        "client.toolbarMode": "minimal",
        "client.showErrorDetails": "full",
        "theme.base": "light",
    }


def streamlit_args(host: str, port: int) -> list[str]:
    """`streamlit run` arguments for the Studio's app."""
    flags = [
        f"--{name}={str(value).lower() if isinstance(value, bool) else value}"
        for name, value in streamlit_flags(host, port).items()
    ]
    return ["run", str(APP), *flags]


def launch(host: str, port: int, settings: Settings) -> int:
    if importlib.util.find_spec("streamlit") is None:
        raise MissingExtra("the Studio", "studio")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    os.environ[ENV_SETTINGS] = settings_env(settings)
    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    click.echo(f"clinextract Studio on http://{host}:{port}  (Ctrl+C stops it)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: other machines can open the Studio", err=True)
    from streamlit.web import cli as streamlit_cli

    try:
        streamlit_cli.main(
            args=streamlit_args(host, port), prog_name="streamlit", standalone_mode=False
        )
    except KeyboardInterrupt:
        return 130
    return 0


_NOT_FOLDERS = tuple(name for name in Settings.model_fields if name not in PATH_FIELDS)


@click.command("studio", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (127.0.0.1: this machine only).",
)
@click.option("--port", default=8501, show_default=True, type=int, help="Port to listen on.")
@settings_options(exclude=_NOT_FOLDERS)
def studio_cmd(host: str, port: int, **options: Any) -> None:
    """Open the Studio: build a task, run it, inspect and evaluate results in a browser."""
    run_guarded(lambda: launch(host, port, settings_from(options)))
