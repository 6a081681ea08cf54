"""Jobs: long extractions that outlive a request, and the service itself.

    <jobs-dir>/<job_id>/
      input.csv | input.tsv | input.jsonl    the upload, exactly as received
      job.json                               task, options, owner, rows; cancelled/error
      run/<task>-run0/                       the run folder (`store.RunFolder`), as the CLI's

A job folder is assembled under `.incoming-<id>/` (upload written and fsynced, checked
with the same reader as the CLI, job.json written) and renamed into place before the job
is accepted, so a job either exists whole or not at all. The pipeline appends every
finished record to the run folder's checkpoint before it counts as done; when the service
is killed and started again, every job that is not complete, cancelled or failed for
good runs again and resumes from its checkpoint: no record lost, none computed twice.
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import secrets
import shutil
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ..data import DataSource, read_json_object
from ..engines import Engine
from ..errors import ClinextractError, ConfigError, exit_status
from ..manifest import now
from ..pipeline import Progress, RunCancelled, check_columns, run_task
from ..settings import Settings
from ..store import RecordRef, RunFolder, run_dir, write_json
from ..task import Task
from .catalog import TaskCatalog
from .runs import RunOptions, columns_for, public_record

JOB_FILE = "job.json"
LOCK = ".lock"
RUN_NAME = "run"
INCOMING = ".incoming-"
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
QUEUED, RUNNING, COMPLETE = "queued", "running", "complete"
FAILED, CANCELLED = "failed", "cancelled"
FINISHED = (COMPLETE, FAILED, CANCELLED)


@dataclass
class Job:
    """What job.json holds."""

    job_id: str
    owner: str
    task: str
    input: str  # file name in the job folder
    input_field: str
    id_field: str | None
    options: dict[str, Any]
    rows: int
    created: str
    cancelled: bool = False
    error: str | None = None  # failed for good (a problem in the job itself)


@dataclass
class Live:
    """A running job's progress, updated by its worker thread."""

    cancel: threading.Event = field(default_factory=threading.Event)
    purge: bool = False
    progress: Progress | None = None
    statuses: Counter = field(default_factory=Counter)


class JobManager:
    def __init__(
        self,
        jobs_dir: Path,
        catalog: TaskCatalog,
        settings: Settings,
        engine: Engine,
        *,
        workers: int = 2,
        max_chars: int = 50_000,
        log: Callable[[str], None] = lambda message: None,
    ):
        self.dir = Path(jobs_dir)
        self.catalog = catalog
        self.settings = settings
        self.engine = engine
        self.max_chars = max_chars
        self.log = log
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._live: dict[str, Live] = {}
        self._unfinished: dict[str, set[str]] = {}  # owner → queued or running job ids
        self._stopping = threading.Event()
        self._counts_cache: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        # jobs stopped by the engine or a bug in this process: they resume at the next start
        self._stopped_by: dict[str, str] = {}
        self._threads = [
            threading.Thread(target=self._work, name=f"clinextract-job-{n}", daemon=True)
            for n in range(workers)
        ]

    # --- start and stop -----------------------------------------------------------------
    def start(self) -> list[str]:
        """Clear what a killed service left half-made, queue every unfinished job (oldest
        first) and start the workers; returns the ids of the jobs queued again."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.dir.glob(INCOMING + "*"):
            shutil.rmtree(leftover, ignore_errors=True)  # never accepted
        resumed = []
        jobs = [job for path in self.dir.iterdir() if (job := self._read(path.name))]
        for job in sorted(jobs, key=lambda j: j.created):
            if not job.cancelled and job.error is None and not self._complete(job):
                self._enqueue(job)
                resumed.append(job.job_id)
        for thread in self._threads:
            thread.start()
        return resumed

    def close(self, timeout: float = 30) -> None:
        """Stop the workers: running jobs stop after their current rows (their records are
        saved) and resume at the next start."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    # --- creating -----------------------------------------------------------------------
    def incoming(self) -> tuple[str, Path]:
        """A new job id and the folder to assemble it in."""
        job_id = secrets.token_hex(8)
        folder = self.dir / f"{INCOMING}{job_id}"
        folder.mkdir(parents=True)
        return job_id, folder

    def unfinished(self, owner: str) -> int:
        with self._lock:
            return len(self._unfinished.get(owner, ()))

    def accept(
        self,
        job_id: str,
        folder: Path,
        input_name: str,
        owner: str,
        task: Task,
        options: RunOptions,
        input_field: str | None,
        id_field: str | None,
    ) -> Job:
        """Check the upload in `folder` as a run would read it, write job.json, move the
        folder into place and queue the job. ConfigError (the folder is removed) when the
        upload or the options would not run."""
        try:
            options.settings_for(self.settings, task)
            path = folder / input_name
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            chosen_input = input_field or task.input_field
            probe = DataSource(path, chosen_input)
            _, chosen_id = columns_for(task, probe.columns, chosen_input, id_field)
            source = DataSource(path, chosen_input, chosen_id)
            check_columns(task, source)
            rows = self._check_rows(source)
            job = Job(
                job_id=job_id,
                owner=owner,
                task=task.name,
                input=input_name,
                input_field=chosen_input,
                id_field=source.id_field,
                options=options.model_dump(exclude_none=True),
                rows=rows,
                created=now(),
            )
            write_json(folder / JOB_FILE, asdict(job), indent=2)
            os.replace(folder, self.dir / job_id)
        except ConfigError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigError(str(exc).replace(str(folder / input_name), "upload")) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _fsync_dir(self.dir)
        self._enqueue(job)
        return job

    def _check_rows(self, source: DataSource) -> int:
        rows = 0
        for row in source:  # reads every row: a ragged line fails now, not mid-job
            if len(row.text) > self.max_chars:
                raise ConfigError(
                    f"row {row.index} (id {row.id}): text of {len(row.text)} characters, "
                    f"at most {self.max_chars} on this service"
                )
            rows += 1
        if rows == 0:
            raise ConfigError("the upload has no rows")
        return rows

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            self._unfinished.setdefault(job.owner, set()).add(job.job_id)
        self._queue.put(job.job_id)

    # --- reading ------------------------------------------------------------------------
    def get(self, job_id: str, owner: str) -> Job | None:
        """The job, when it exists and belongs to `owner` (others' jobs do not exist)."""
        job = self._read(job_id)
        return job if job is not None and job.owner == owner else None

    def jobs_of(self, owner: str) -> list[Job]:
        jobs = [job for p in self.dir.iterdir() if (job := self._read(p.name))]
        return sorted((j for j in jobs if j.owner == owner), key=lambda j: j.created)

    def _read(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id):
            return None
        path = self.dir / job_id / JOB_FILE
        if not path.is_file():
            return None
        try:
            return Job(**read_json_object(path, "job file"))
        except (ConfigError, TypeError):  # not a job folder of this version
            return None

    def folder(self, job: Job) -> RunFolder:
        settings = self.settings.model_copy(
            update={"output_dir": self.dir / job.job_id, "run_name": RUN_NAME}
        )
        return RunFolder(run_dir(settings, job.task))

    def _complete(self, job: Job) -> bool:
        folder = self.folder(job)
        try:
            return folder.is_run() and folder.manifest().get("status") == COMPLETE
        except ConfigError:
            return False

    def state(self, job: Job) -> str:
        if job.cancelled:
            return CANCELLED
        if job.error is not None:
            return FAILED
        with self._lock:
            if job.job_id in self._live:
                return RUNNING
            if job.job_id in self._stopped_by:
                return FAILED
        return COMPLETE if self._complete(job) else QUEUED

    def status(self, job: Job) -> dict[str, Any]:
        """What GET /v1/jobs/{id} answers: state, counts, speed."""
        state = self.state(job)
        with self._lock:
            live = self._live.get(job.job_id)
            progress = live.progress if live else None
            statuses = dict(live.statuses) if live else None
        out: dict[str, Any] = {
            "job_id": job.job_id,
            "task": job.task,
            "state": state,
            "created": job.created,
            "rows": job.rows,
            "error": job.error or self._stopped_by.get(job.job_id),
        }
        if progress is not None and statuses is not None:
            out.update(done=progress.done, counts=statuses, docs_per_s=progress.docs_per_s)
            return out
        folder = self.folder(job)
        done, counts = self._counts(folder)
        out.update(done=done, counts=counts, docs_per_s=None)
        if folder.is_run():
            try:
                manifest = folder.manifest()
                out["docs_per_s"] = manifest.get("timings", {}).get("docs_per_s")
                out["finished"] = manifest.get("finished")
            except ConfigError:
                pass
        return out

    def _counts(self, folder: RunFolder) -> tuple[int, dict[str, int]]:
        path = folder.records_path
        try:
            stat = path.stat()
        except OSError:
            return 0, {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._counts_cache.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]["done"], cached[1]["counts"]
        index = folder.record_index()
        counts = dict(Counter(ref.status for ref in index.values()))
        self._counts_cache[str(path)] = (stamp, {"done": len(index), "counts": counts})
        return len(index), counts

    def records(
        self, job: Job, offset: int, limit: int | None
    ) -> tuple[int, Iterator[dict[str, Any]]]:
        """(the offset after the last record that will be sent, the records): the records
        of rows offset, offset+1, ... up to the first row not finished yet, in input
        order. While a job runs, a row that failed for a passing reason is not final yet
        (it is computed again if the job resumes), so the stream stops before it."""
        final = self.state(job) == COMPLETE
        folder = self.folder(job)
        index = folder.record_index()
        chosen: list[tuple[int, RecordRef]] = []
        row = offset
        while row in index and (limit is None or len(chosen) < limit):
            ref = index[row]
            if ref.transient and not final:
                break
            chosen.append((row, ref))
            row += 1
        records = (public_record(r) for r in folder.records_at(chosen)) if chosen else iter(())
        return row, records

    # --- cancelling ---------------------------------------------------------------------
    def cancel(self, job: Job, purge: bool = False) -> None:
        """Mark the job cancelled (it never runs again) and stop it if it runs; `purge`
        also removes its folder, upload and records included."""
        if not job.cancelled:
            job.cancelled = True
            self._write(job)
        with self._lock:
            self._unfinished.get(job.owner, set()).discard(job.job_id)
            live = self._live.get(job.job_id)
            if live is not None:
                live.purge = live.purge or purge
                live.cancel.set()
                return
        if purge:
            shutil.rmtree(self.dir / job.job_id, ignore_errors=True)

    def _write(self, job: Job) -> None:
        write_json(self.dir / job.job_id / JOB_FILE, asdict(job), indent=2)

    # --- running ------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            job = self._read(job_id)
            if job is None or job.cancelled:
                continue
            live = Live()
            with self._lock:
                self._live[job_id] = live
            try:
                self._run(job, live)
            finally:
                with self._lock:
                    self._live.pop(job_id, None)
                    if not self._stopping.is_set():
                        self._unfinished.get(job.owner, set()).discard(job_id)
                if live.purge:
                    shutil.rmtree(self.dir / job_id, ignore_errors=True)

    def _run(self, job: Job, live: Live) -> None:
        task = self.catalog.get(job.task)
        try:
            if task is None:
                raise ConfigError(f"task {job.task!r} is no longer in the task folder")
            settings = RunOptions(**job.options).settings_for(self.settings, task)
            settings = settings.model_copy(
                update={"output_dir": self.dir / job.job_id, "run_name": RUN_NAME}
            )
            source = DataSource(self.dir / job.job_id / job.input, job.input_field, job.id_field)

            def on_progress(progress: Progress, record: dict[str, Any] | None) -> None:
                with self._lock:
                    live.progress = progress
                    if record is not None:
                        live.statuses[record["status"]] += 1

            run_task(
                task,
                settings,
                source=source,
                engine=self.engine,
                on_progress=on_progress,
                should_stop=lambda: live.cancel.is_set() or self._stopping.is_set(),
            )
            self.log(f"job {job.job_id}: complete")
        except RunCancelled:
            self.log(f"job {job.job_id}: stopped (records saved)")
        except ConfigError as exc:  # the job itself cannot run: it fails for good
            job.error = str(exc)
            self._write(job)
            self.log(f"job {job.job_id}: failed: {exc}")
        except ClinextractError as exc:  # the engine: the job runs again at the next start
            known = exit_status(exc)
            self._stopped(job, known[1] if known else str(exc))
        except Exception as exc:  # a bug: frames only, an exception's text may quote a report
            frames = "".join(traceback.format_tb(exc.__traceback__))
            self._stopped(job, f"internal error ({type(exc).__name__}), please report it")
            self.log(frames)

    def _stopped(self, job: Job, message: str) -> None:
        with self._lock:
            self._stopped_by[job.job_id] = f"{message}; it resumes when the service restarts"
        self.log(f"job {job.job_id}: {message}")


def lock_jobs_dir(path: Path) -> IO[str]:
    """Hold `<jobs-dir>/.lock` for the life of the process: two services resuming the same
    jobs would compute rows twice. ConfigError (one line) when another service holds it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    handle = (path / LOCK).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(f"{path} is in use by another service ({holder})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
