"""Rows through the pipeline with the service's one engine, as `clinextract run` does.

Sync requests and jobs both call `pipeline.run_task` with a `Task` from the catalog, a
source of rows, `Settings` (the service's, with the request's few options) and the
shared engine; records are read back through `store.RunFolder`, so what a caller gets
is exactly what the CLI writes to records.jsonl.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..data import RecordsSource
from ..engines import Completion, Engine, Request
from ..errors import ConfigError
from ..messages import Message
from ..pipeline import run_task
from ..settings import Settings, stable_hash
from ..store import RunFolder
from ..task import Task

INTERNAL_KEYS = ("config",)  # in the checkpoint for resume; nothing a caller needs
TEXT = "text"  # the text column of requests that do not use the task's own column


class RunOptions(BaseModel):
    """What a request may choose about its run (everything else is the service's)."""

    model_config = ConfigDict(extra="forbid")

    num_examples: int | None = Field(
        None, ge=0, le=20, description="Few-shot examples per report (the task's examples)."
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Output token budget; at most the service's --max-tokens."
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    seed: int | None = Field(None, description="Sampling seed.")

    def settings_for(self, base: Settings, task: Task) -> Settings:
        """The service's settings with these options; ConfigError when one is not allowed."""
        chosen = self.model_dump(exclude_none=True)
        if chosen.get("max_tokens", 0) > base.max_tokens:
            raise ConfigError(f"options.max_tokens: at most {base.max_tokens} on this service")
        if chosen.get("num_examples") and task.example_path is None:
            raise ConfigError(f"options.num_examples: task {task.name} has no examples")
        return base.model_copy(update={**chosen, "n_runs": 1, "overwrite": False})


class SharedEngine(Engine):
    """The service's engine as every run sees it. Runs come and go; the engine stays (a
    run never closes it), and the shared instruction is primed into the slots once per
    distinct instruction instead of once per request."""

    def __init__(self, inner: Engine):
        self.inner = inner
        self.name = inner.name
        self.capacity = inner.capacity
        self._primed: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, request: Request) -> Future[Completion]:
        return self.inner.submit(request)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def prime(self, prefix: list[Message]) -> None:
        key = stable_hash(prefix)
        with self._lock:
            if key in self._primed:
                return
            self._primed.add(key)
        self.inner.prime(prefix)

    def close(self) -> None:
        """A run's `close` does nothing; the service closes `inner` when it stops."""


def columns_for(
    task: Task, columns: Sequence[str], input_field: str | None, id_field: str | None
) -> tuple[str, str | None]:
    """(text column, id column) for rows with these columns: the ones asked for, else the
    task's own when the rows have them, else `text` (and the DataSource's default id)."""
    if input_field is None:
        input_field = task.input_field if task.input_field in columns else TEXT
    if id_field is None and task.id_field in columns:
        id_field = task.id_field
    return input_field, id_field


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in INTERNAL_KEYS}


class Scratch:
    """Where sync requests' run folders live while a request runs: in memory (/dev/shm)
    where the machine has it, so nothing of a sync request reaches the disk (and the run
    folder's fsyncs cost nothing: 4 ms a request instead of 50 ms on a plain disk);
    elsewhere under `fallback`. One folder per service process, removed when it stops;
    folders of processes that were killed are removed at the next start."""

    PREFIX = "clinextract-sync-"

    def __init__(self, fallback: Path, memory: Path = Path("/dev/shm")):
        base = memory if memory.is_dir() and os.access(memory, os.W_OK) else Path(fallback)
        base.mkdir(parents=True, exist_ok=True)
        for old in base.glob(f"{self.PREFIX}*"):
            pid = old.name.removeprefix(self.PREFIX).split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=base))

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def extract_rows(
    task: Task,
    settings: Settings,
    engine: Engine,
    rows: list[dict[str, Any]],
    input_field: str,
    id_field: str | None,
    workdir: Path,
) -> list[dict[str, Any]]:
    """Records for `rows`, in their order, through a run folder that lives only for the
    request (in `workdir`, the service's `Scratch`)."""
    source = RecordsSource(rows, input_field, id_field, name="request")
    with tempfile.TemporaryDirectory(dir=workdir, prefix="sync-") as tmp:
        cfg = settings.model_copy(update={"output_dir": Path(tmp), "run_name": "sync"})
        [summary] = run_task(task, cfg, source=source, engine=engine)
        records = RunFolder(summary.run_dir).records()
    return [public_record(records[row]) for row in range(len(rows))]
