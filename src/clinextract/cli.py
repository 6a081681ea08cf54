"""The command line. Thin: options come from `Settings`, work is done by the pipeline.

Exit codes: 0 every row processed (failed extractions are data), 1 the engine could not
run, 2 a usage or configuration error (one line, no traceback), 130 interrupted.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_common import (
    err_console,
    log_lines,
    out_console,
    run_guarded,
    settings_from,
    settings_options,
)
from .errors import ConfigError, MissingExtra
from .store import RunFolder
from .version import __version__

# --- commands ---------------------------------------------------------------------------


# Subcommands that live in their own modules, imported only when used (keeps `--help`
# fast and the Studio's and DRAGON's heavier imports out of `clinextract run`), with the
# extra that brings what each needs beyond the core install.
LAZY_COMMANDS = {
    "serve": ("clinextract.serve:serve_cmd", None),
    "dragon": ("clinextract.dragon.cli:dragon_group", "dragon"),
    "studio": ("clinextract.studio.launch:studio_cmd", "studio"),
    "service": ("clinextract.service.cli:service_group", "service"),
    "review": ("clinextract.cli_review:review_group", None),
    "export": ("clinextract.cli_review:export_cmd", None),
    "evaluate": ("clinextract.cli_review:evaluate_cmd", None),
}


def missing_extra_command(name: str, extra: str, module: str | None) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says which one."""

    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stand_in(args: tuple[str, ...]) -> None:
        missing = f" ({module} is not installed)" if module else ""
        run_guarded(lambda: _raise(MissingExtra(f"`clinextract {name}`{missing}", extra)))

    stand_in.help = f"(needs the '{extra}' extra: pip install 'clinextract[{extra}]')"
    return stand_in


def _raise(exc: Exception) -> None:
    raise exc


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            target, extra = LAZY_COMMANDS[name]
            module_name, attr = target.split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if extra is None or (exc.name or "").startswith("clinextract"):
                    raise  # part of the core install: a broken install, not a missing extra
                return missing_extra_command(name, extra, exc.name)
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
    printer = ProgressPrinter(err_console, verbose=settings.verbose, log_text=settings.log_text)
    with printer, log_lines(printer.status):
        summaries = run_task(task, settings, on_progress=printer.update, on_status=printer.status)
    for summary in summaries:
        print_summary(summary)
        if show:
            print_records(summary.predictions_path, show)
    return 0


@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the report here instead of RUN_DIR/report.html (it holds report text).",
)
def report_cmd(run_dir: Path, output: Path | None) -> None:
    """Write the run report of RUN_DIR again: one offline HTML page with every value's
    evidence, confidences, failures and filters."""
    run_guarded(lambda: _report(run_dir, output))


def _report(run_dir: Path, output: Path | None) -> int:
    from .report import write_report

    out_console.print(f"report: {write_report(run_dir, output=output)}", highlight=False)
    return 0


def print_summary(summary: Any) -> None:
    out_console.print(
        f"[bold]{summary.task}[/bold]: {summary.rows} rows, "
        f"[green]{summary.successes} success[/green], "
        + (f"[yellow]{summary.partials} partial[/yellow], " if summary.partials else "")
        + f"[{'red' if summary.failures else 'green'}]{summary.failures} failure"
        f"[/{'red' if summary.failures else 'green'}]"
        + (f", {summary.reused} reused from an earlier run" if summary.reused else "")
        + f" · {examples_used(summary)}"
        + f" · {summary.docs_per_s:.2f} docs/s · {summary.tokens_per_s:.1f} output tokens/s"
        f" · {summary.seconds:.1f} s",
        highlight=False,
    )
    for warning in summary.warnings:
        out_console.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)
    out_console.print(f"  predictions: {summary.predictions_path}", highlight=False)
    out_console.print(f"  checkpoint and manifest: {summary.run_dir}", highlight=False)
    report = RunFolder(summary.run_dir).report_path
    if report.exists():
        out_console.print(f"  run report (open in a browser): {report}", highlight=False)


def examples_used(summary: Any) -> str:
    if not summary.num_examples:
        return "no few-shot examples"
    return f"{summary.num_examples} examples per report from {summary.examples_source}"


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
