"""The command line. Thin: options come from `Settings`, work is done by the pipeline.

Exit codes: 0 every row processed (failed extractions are data), 1 the engine could not
run, 2 a usage or configuration error (one line, no traceback), 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import ConfigError, EngineError
from .settings import Settings

err_console = Console(stderr=True)
out_console = Console(soft_wrap=True)  # paths and summaries stay on one line


# --- options generated from Settings ----------------------------------------------------


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """(click type, multiple) for a Settings field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _click_type(args[0])
    if origin is list:
        return _click_type(args[0])[0], True
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)]), False
    if annotation is Path:
        return click.Path(path_type=Path), False
    if annotation is SecretStr:
        return str, False
    return annotation, False


def settings_options(exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: one click option per Settings field (help and spellings from the field)."""

    def decorate(func: Callable) -> Callable:
        for name, info in reversed(list(Settings.model_fields.items())):
            if name in exclude:
                continue
            flags = (info.json_schema_extra or {}).get("flags", [f"--{name}"])
            ctype, multiple = _click_type(info.annotation)
            default = info.get_default(call_default_factory=True)
            shown = "" if default in (None, [], "") else f" [default: {default}]"
            common = {"help": (info.description or "") + shown, "default": None}
            if ctype is bool:
                if "/" in flags[0]:
                    option = click.option(*flags, name, **common)
                else:
                    option = click.option(*flags, name, is_flag=True, flag_value=True, **common)
            else:
                option = click.option(
                    *flags,
                    name,
                    type=ctype,
                    multiple=multiple,
                    **{**common, "default": () if multiple else None},
                )
            func = option(func)
        return func

    return decorate


def settings_from(options: dict[str, Any], **extra: Any) -> Settings:
    given = {
        k: v for k, v in options.items() if k in Settings.model_fields and v is not None and v != ()
    }
    given.update(extra)
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across fields, e.g. the model file
            raise ConfigError(message) from exc
        raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {message}") from exc


# --- error handling shared by every command ---------------------------------------------


def run_guarded(func: Callable[[], int | None]) -> None:
    try:
        code = func() or 0
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        code = 2
    except EngineError as exc:
        err_console.print(
            f"[red]engine error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        code = 1
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: finished records are saved; run the same command again to resume"
        )
        code = 130
    sys.exit(code)


# --- commands ---------------------------------------------------------------------------


# Subcommands that live in their own modules, imported only when used (keeps `--help`
# fast and the Studio's and DRAGON's heavier imports out of `clinextract run`).
LAZY_COMMANDS = {
    "serve": "clinextract.serve:serve_cmd",
    "dragon": "clinextract.dragon.cli:dragon_group",
    "studio": "clinextract.studio.launch:studio_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            import importlib

            module_name, attr = LAZY_COMMANDS[name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("clinextract"):
                    return None  # not built yet
                raise
            return getattr(module, attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clinextract")
def cli() -> None:
    """Structured, validated data from clinical reports with local LLMs."""


def _run_command(func: Callable) -> Callable:
    func = click.option("--show", type=int, default=0, help="Print the first N records when done.")(
        func
    )
    func = click.option(
        "--task-id",
        "--task_id",
        "task_id",
        type=int,
        default=None,
        help="Run tasks/Task{N:03d}*.json from --task-dir.",
    )(func)
    func = click.argument("task", required=False)(func)
    return settings_options()(func)


@cli.command("run")
@_run_command
def run_cmd(task: str | None, task_id: int | None, show: int, **options: Any) -> None:
    """Extract structured data for TASK (a task file, or --task-id N)."""
    run_guarded(lambda: _run(task, task_id, show, options))


@click.command("extractinate", context_settings={"help_option_names": ["-h", "--help"]})
@_run_command
def extractinate_cmd(task: str | None, task_id: int | None, show: int, **options: Any) -> None:
    """llm_extractinator-compatible alias of `clinextract run`."""
    run_guarded(lambda: _run(task, task_id, show, options))


def _run(task_ref: str | None, task_id: int | None, show: int, options: dict[str, Any]) -> int:
    from .pipeline import run_task
    from .progress import ProgressPrinter
    from .task import load_task

    settings = settings_from(options)
    if task_ref is not None and task_id is not None:
        raise ConfigError("give a task file or --task-id, not both")
    task = load_task(task_ref if task_ref is not None else task_id, settings)
    with ProgressPrinter(
        err_console, verbose=settings.verbose, log_text=settings.log_text
    ) as printer:
        summaries = run_task(task, settings, on_progress=printer.update, on_status=printer.status)
    for summary in summaries:
        print_summary(summary)
        if show:
            print_records(summary.predictions_path, show)
    return 0


def print_summary(summary: Any) -> None:
    out_console.print(
        f"[bold]{summary.task}[/bold]: {summary.rows} rows, "
        f"[green]{summary.successes} success[/green], "
        f"[{'red' if summary.failures else 'green'}]{summary.failures} failure"
        f"[/{'red' if summary.failures else 'green'}]"
        + (f", {summary.reused} reused from an earlier run" if summary.reused else "")
        + f" · {summary.docs_per_s:.2f} docs/s · {summary.tokens_per_s:.1f} output tokens/s"
        f" · {summary.seconds:.1f} s",
        highlight=False,
    )
    out_console.print(f"  predictions: {summary.predictions_path}", highlight=False)
    out_console.print(f"  checkpoint and manifest: {summary.run_dir}", highlight=False)


def print_records(path: Path, n: int) -> None:
    records = json.loads(path.read_text(encoding="utf-8"))
    for record in records[:n]:
        out_console.print_json(json.dumps(record, ensure_ascii=False))


def main() -> None:
    cli(prog_name="clinextract")


def extractinate_main() -> None:
    extractinate_cmd(prog_name="extractinate")


if __name__ == "__main__":
    main()
