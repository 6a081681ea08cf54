"""A run in a background thread of the Studio's own process, through the same
`pipeline.run_task` as `clinextract run`, with live progress and cooperative cancel.

One run at a time per Studio process (the machine's cores are the limit), kept at module
level so a reloaded browser tab finds the run it started. Errors are kept as the plain
message the CLI would print, never turned into a success.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..data import DataSource, RecordsSource
from ..engines import Engine
from ..errors import ConfigError, exit_status
from ..pipeline import Progress, RunCancelled, RunSummary, run_task
from ..settings import Settings
from ..store import run_dirs
from ..task import Task

STARTING, RUNNING, DONE, CANCELLED, FAILED = "starting", "running", "done", "cancelled", "failed"
FINISHED = (DONE, CANCELLED, FAILED)


@dataclass(frozen=True)
class Snapshot:
    """What the page shows; a copy, safe to read while the run goes on."""

    state: str
    task: str
    total: int = 0
    done: int = 0
    successes: int = 0
    partials: int = 0
    failures: int = 0
    reused: int = 0
    docs_per_s: float = 0.0
    elapsed: float = 0.0
    messages: tuple[str, ...] = ()
    error: str | None = None
    detail: str | None = None  # a traceback, for an error that is not a known kind
    summaries: tuple[RunSummary, ...] = ()
    run_dirs: tuple[Path, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def task_source(task: Task, settings: Settings, first_rows: int = 0) -> DataSource:
    """The task's data as `clinextract run` opens it, or only its first N rows (N > 0)."""
    if task.data_path is None:
        raise ConfigError(f"{task.source or task.name}: no Data_Path")
    full = DataSource(task.data_path, task.input_field, settings.id_field or task.id_field)
    if first_rows <= 0:
        return full
    rows = [row.columns for row in itertools.islice(full, first_rows)]
    if not rows:
        raise ConfigError(f"{task.data_path}: the file has no rows")
    return RecordsSource(
        rows, task.input_field, full.id_field, name=f"{task.data_path} (first {len(rows)} rows)"
    )


def counts_of(run: Progress | RunSummary) -> dict[str, Any]:
    """The Snapshot's counters from a run under way or a finished one."""
    total, done = (run.rows, run.rows) if isinstance(run, RunSummary) else (run.total, run.done)
    return {
        "total": total,
        "done": done,
        "successes": run.successes,
        "partials": run.partials,
        "failures": run.failures,
        "reused": run.reused,
        "docs_per_s": run.docs_per_s,
    }


class RunJob:
    def __init__(
        self,
        task: Task,
        settings: Settings,
        *,
        first_rows: int = 0,
        source: DataSource | None = None,
        engine: Engine | None = None,
    ):
        self.task = task
        self.settings = settings
        self.first_rows = first_rows
        self.source = source  # default: the task's data (its first rows with first_rows)
        self.engine = engine  # tests pass a loaded one; otherwise the pipeline makes one
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._snap = Snapshot(STARTING, task.name)
        self._started = time.perf_counter()
        self._thread = threading.Thread(
            target=self._main, name="clinextract-studio-run", daemon=True
        )

    # --- control -------------------------------------------------------------------------
    def start(self) -> RunJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop after the rows in flight; finished rows stay saved."""
        self._stop.set()
        self._update(messages=(*self._snap.messages, "cancel requested ..."))

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> Snapshot:
        self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snap.finished:
                return self._snap
            return replace(self._snap, elapsed=time.perf_counter() - self._started)

    # --- the thread ----------------------------------------------------------------------
    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._snap = replace(self._snap, **changes)

    def _status(self, message: str) -> None:
        self._update(messages=(*self._snap.messages, message))

    def _progress(self, progress: Progress, record: dict[str, Any] | None) -> None:
        self._update(state=RUNNING, **counts_of(progress))

    def _should_stop(self) -> bool:
        # first asked once the engine is up, before any row: the run is under way
        if self._snap.state == STARTING:
            self._update(state=RUNNING)
        return self._stop.is_set()

    def _main(self) -> None:
        self._update(run_dirs=tuple(run_dirs(self.settings, self.task.name)))
        try:
            source = self.source or task_source(self.task, self.settings, self.first_rows)
            self._update(total=len(source))
            summaries = run_task(
                self.task,
                self.settings,
                source=source,
                engine=self.engine,
                on_progress=self._progress,
                on_status=self._status,
                should_stop=self._should_stop,
            )
        except RunCancelled as exc:
            self._finish(CANCELLED, error=f"{exc}; finished rows are saved, start again to resume")
        except Exception as exc:  # noqa: BLE001 - shown on the page, never swallowed
            known = exit_status(exc)
            if known is not None:
                self._finish(FAILED, error=known[1])
            else:
                self._finish(
                    FAILED, error=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc()
                )
        else:
            self._finish(DONE, summaries=tuple(summaries), **counts_of(summaries[-1]))

    def _finish(self, state: str, **changes: Any) -> None:
        self._update(state=state, elapsed=time.perf_counter() - self._started, **changes)


# --- one run per process --------------------------------------------------------------------

_current: RunJob | None = None
_current_lock = threading.Lock()


def current_job() -> RunJob | None:
    return _current


def start_job(
    task: Task,
    settings: Settings,
    *,
    first_rows: int = 0,
    source: DataSource | None = None,
    engine: Engine | None = None,
) -> RunJob:
    """Start a run unless one is still going (ConfigError then)."""
    global _current
    with _current_lock:
        if _current is not None and not _current.snapshot().finished:
            raise ConfigError(
                f"a run of {_current.task.name} is still going; cancel it or wait for it"
            )
        _current = RunJob(
            task, settings, first_rows=first_rows, source=source, engine=engine
        ).start()
        return _current


def forget_finished() -> None:
    """Drop a finished run (a new browser session then starts clean)."""
    global _current
    with _current_lock:
        if _current is not None and _current.snapshot().finished:
            _current = None
