"""`clinextract service`: start the extraction service; `add-key`, `list-keys`, `remove-key`.

Start-up checks everything that can be checked before the model is loaded: the address
(loopback, or a keys file), the keys file, every task file, the port. Then one engine is
loaded, unfinished jobs are queued again, and uvicorn serves until Ctrl+C or SIGTERM;
running jobs then stop after their current rows and resume at the next start.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import uvicorn  # the extra's parts first: without them this module is a one-line "install"

from ..cli_common import (
    bind_socket,
    err_console,
    model_from,
    out_console,
    run_guarded,
    settings_from,
    settings_options,
)
from ..engines import Engine, create_engine
from ..settings import Settings
from .app import Service, create_app
from .catalog import TaskCatalog
from .config import ServiceConfig
from .http import QuietErrors
from .jobs import JobManager, lock_jobs_dir
from .keys import KeyRing, add_key, read_entries, remove_key
from .runs import Scratch, SharedEngine

# `clinextract run` options that mean nothing to a service: requests bring the data,
# and each job or request is one run in a folder of the service's choosing.
NOT_FOR_SERVICE = ("data_dir", "output_dir", "run_name", "n_runs", "overwrite")
EngineFactory = Callable[[Settings], Engine]


@click.group(
    "service",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@settings_options(model=ServiceConfig)
@settings_options(exclude=NOT_FOR_SERVICE)
@click.pass_context
def service_group(ctx: click.Context, **options: Any) -> None:
    """Serve extraction over HTTP for the tasks in --task-dir (REST API, jobs that survive
    restarts, API keys). `clinextract service add-key FILE --name NAME` makes a key."""
    if ctx.invoked_subcommand is not None:
        return
    factory = (ctx.obj or {}).get("engine_factory")  # tests: a fake engine
    run_guarded(lambda: serve(options, factory))


def serve(options: dict[str, Any], engine_factory: EngineFactory | None = None) -> int:
    settings = settings_from(options)
    config = model_from(ServiceConfig, options)
    config.check_exposure()
    keys = KeyRing(config.api_keys) if config.api_keys else None
    catalog = TaskCatalog.load(settings)
    lock = lock_jobs_dir(config.jobs_dir)  # held until the process ends
    sock = bind_socket(config.host, config.port)

    def say(message: str) -> None:
        err_console.print(message, highlight=False, soft_wrap=True)

    if keys is not None and not len(keys):
        say(f"[yellow]warning:[/yellow] {config.api_keys} holds no keys: every /v1 request is 401")
    try:
        say(f"starting the {settings.engine} engine ...")
        engine = SharedEngine((engine_factory or create_engine)(settings))
    except BaseException:
        sock.close()
        raise
    jobs = JobManager(
        config.jobs_dir,
        catalog,
        settings,
        engine,
        workers=config.job_workers,
        max_chars=config.max_chars,
        log=say,
    )
    scratch = Scratch(config.jobs_dir / ".sync")
    try:
        resumed = jobs.start()
        if resumed:
            say(f"resuming {len(resumed)} unfinished job(s): {', '.join(resumed)}")
        app = create_app(Service(config, settings, catalog, jobs, keys, scratch, say))
        server = uvicorn.Server(
            uvicorn.Config(
                QuietErrors(app),
                log_level="info" if settings.verbose else "warning",
                access_log=settings.verbose,  # method, path, status: never a body
                server_header=False,
                lifespan="off",
                timeout_graceful_shutdown=10,
            )
        )
        host, port = sock.getsockname()[:2]
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        sock.listen(2048)  # clients that come before uvicorn runs wait in the backlog
        out_console.print(
            f"clinextract service on {url} (docs: {url}/docs) · tasks: "
            f"{', '.join(catalog.names())} · jobs: {config.jobs_dir} · "
            f"keys: {config.api_keys or 'none (loopback only)'}",
            highlight=False,
        )
        out_console.file.flush()
        # uvicorn handles SIGINT/SIGTERM itself and raises them again once it stopped;
        # these handlers then let the jobs and the engine stop in order below
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        server.run(sockets=[sock])
    finally:
        say("stopping: running jobs stop after their current rows and resume at the next start")
        jobs.close()
        engine.inner.close()
        scratch.close()
        sock.close()
        lock.close()
    say("service stopped")
    return 0


# --- keys ---------------------------------------------------------------------------------


@service_group.command("add-key")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Who the key is for (shown in logs and job lists).")
@click.option("--tasks", default=None, help="Comma-separated tasks it may use (default: all).")
def add_key_cmd(file: Path, name: str, tasks: str | None) -> None:
    """Create a key, store its hash in FILE and print the key (only this once)."""

    def run() -> int:
        allowed = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        key = add_key(file, name, allowed)
        click.echo(key)
        err_console.print(
            f"key {name!r} added to {file} (only its hash is stored: keep the key now, it is "
            "not shown again). A running service picks it up at once.",
            highlight=False,
            soft_wrap=True,
        )
        return 0

    run_guarded(run)


@service_group.command("list-keys")
@click.argument("file", type=click.Path(path_type=Path))
def list_keys_cmd(file: Path) -> None:
    """Names, allowed tasks and creation times of the keys in FILE (never the keys)."""

    def run() -> int:
        for entry in read_entries(file):
            tasks = ", ".join(entry["tasks"]) if entry.get("tasks") else "all tasks"
            click.echo(f"{entry['name']}\t{tasks}\t{entry.get('created', '')}")
        return 0

    run_guarded(run)


@service_group.command("remove-key")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True)
def remove_key_cmd(file: Path, name: str) -> None:
    """Revoke a key (a running service stops accepting it at once)."""
    run_guarded(lambda: remove_key(file, name) or 0)
