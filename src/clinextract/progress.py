"""A progress bar for long runs (docs/s, failures, ETA), fed by pipeline events: the
CLI's (`ProgressPrinter`), and the Python API's, drawn only where someone watches
(`ProgressBar`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .pipeline import Progress as RunProgress
from .settings import Settings


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


class ProgressBar:
    """The Python API's bar: a `ProgressPrinter` in a terminal or a Jupyter notebook, one
    at a time across threads; nothing when progress is off or output goes to a file."""

    _shown = threading.Lock()

    def __init__(self, printer: ProgressPrinter | None = None):
        self.printer = printer

    @classmethod
    @contextmanager
    def open(cls, enabled: bool, settings: Settings) -> Iterator[ProgressBar]:
        if not enabled or not cls._shown.acquire(blocking=False):
            yield cls()
            return
        try:
            console = Console(stderr=True)
            if not (console.is_terminal or (console.is_jupyter and _has_widgets())):
                yield cls()
                return
            with ProgressPrinter(console, settings.verbose, settings.log_text) as printer:
                yield cls(printer)
        finally:
            cls._shown.release()

    def update(self, progress: RunProgress, record: dict[str, Any] | None) -> None:
        if self.printer is not None:
            self.printer.update(progress, record)

    def say(self, message: str) -> None:
        if self.printer is not None:
            self.printer.status(message)

    def combine(
        self, on_progress: Callable[[RunProgress, dict[str, Any] | None], None] | None
    ) -> Callable[[RunProgress, dict[str, Any] | None], None]:
        """The bar and the caller's callback, both fed by every pipeline event."""

        def both(progress: RunProgress, record: dict[str, Any] | None) -> None:
            self.update(progress, record)
            if on_progress is not None:
                on_progress(progress, record)

        return both


def _has_widgets() -> bool:
    """rich draws a live bar in Jupyter through ipywidgets (and only warns without it)."""
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None
