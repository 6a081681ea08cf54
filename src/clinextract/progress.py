"""A progress bar for long runs (docs/s, failures, ETA), fed by pipeline events."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .pipeline import Progress as RunProgress


class ProgressPrinter:
    def __init__(self, console: Console, verbose: bool = False, log_text: bool = False):
        self.console = console
        self.verbose = verbose
        self.log_text = log_text  # the pipeline adds the report text only when asked to
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[fails]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task_id: Any = None

    def __enter__(self) -> ProgressPrinter:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def status(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def update(self, progress: RunProgress, record: dict[str, Any] | None) -> None:
        if self.task_id is None:
            self.task_id = self.bar.add_task("extracting", total=progress.total, rate="", fails="")
        fails = f"[red]{progress.failures} failed[/red]" if progress.failures else ""
        self.bar.update(
            self.task_id,
            completed=progress.done,
            total=progress.total,
            rate=f"{progress.docs_per_s:.2f} docs/s",
            fails=fails,
        )
        if self.verbose and record and not record.get("reused"):
            line = f"row {record['row']} (id {record['id']}): {record['status']}"
            if record.get("error"):
                line += f" - {record['error']}"
            if self.log_text and record.get("text") is not None:
                line += f"\n  text: {' '.join(str(record['text']).split())[:200]}"
            self.bar.console.print(line, highlight=False)

    def new_run(self) -> None:
        if self.task_id is not None:
            self.bar.remove_task(self.task_id)
            self.task_id = None
