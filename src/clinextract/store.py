"""The run folder, and the one place that knows its paths and files.

    <output-dir>/<run-name>/<task>-run<k>/
      records.jsonl                   one line per finished row, written at once (checkpoint)
      records.stale.jsonl             lines from an earlier configuration, moved aside
      manifest.json                   how the run was made (written atomically)
      nlp-predictions-dataset.json    input order, written atomically at the end
      report.html                     the run report (report.py), holds report text
      run.lock                        held (flock) by the run writing the folder; its pid
      reviews.jsonl                   reviewers' decisions, appended (review.py); kept by
                                      --overwrite: they are a person's work, not the model's
    <output-dir>/<run-name>/<task>-translations.jsonl   the --translate cache

`RunFolder` names every file and reads them back (everyone who reads a run goes through
it); `RunStore` appends to the checkpoint during a run, holding the folder's lock, so a
second run on the same folder stops at once instead of interleaving its lines. The lock
is the kernel's (flock): a killed run's lock goes with its process and the next run
takes the folder over.

A record line carries the configuration hash it was made under. On resume, lines with
the current hash count as done; lines from another configuration are moved aside and
their rows computed again. A line half-written when the process was killed, one that is
not a record at all, and a row with two final records are dropped (those rows are
computed again) before anything new is appended; a row computed again after a passing
failure keeps only its last line.

Every write goes through `writing()`: an OSError (disk full, read-only folder) becomes a
`WriteError` (exit 1) naming the file, and a line that could not be written whole is cut
off again, so what is on disk stays a valid checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import DataSource, read_json_object
from .errors import ConfigError
from .files import append_lines, atomic_write, dumps, read_jsonl, write_json, writing
from .schema import OutputSchema, load_schema
from .settings import Settings

RECORDS, MANIFEST, PREDICTIONS = "records.jsonl", "manifest.json", "nlp-predictions-dataset.json"
STALE, LOCK, REPORT = "records.stale.jsonl", "run.lock", "report.html"
REVIEWS = "reviews.jsonl"  # a person's work: --overwrite keeps it
RUN_FILES = (RECORDS, MANIFEST, PREDICTIONS, STALE, REPORT)  # what --overwrite removes
RECORD_KEYS = ("row", "id", "text_sha", "status", "fields")  # what every record line has
RECORD_STATUSES = ("success", "partial", "failure")


def run_dir(settings: Settings, task_name: str, k: int = 0) -> Path:
    """Where run `k` of a task is written."""
    return settings.output_dir / settings.run_name / f"{task_name}-run{k}"


def run_dirs(settings: Settings, task_name: str) -> list[Path]:
    return [run_dir(settings, task_name, k) for k in range(settings.n_runs)]


def translations_path(settings: Settings, task_name: str) -> Path:
    """The --translate cache, shared by every run of the task under this run name."""
    return settings.output_dir / settings.run_name / f"{task_name}-translations.jsonl"


def is_record(obj: dict[str, Any] | None, fields: Iterable[str] | None = None) -> bool:
    """Whether a checkpoint line is a record (of a schema with these `fields`, if given)."""
    return (
        obj is not None
        and all(k in obj for k in RECORD_KEYS)
        and type(obj["row"]) is int
        and obj["row"] >= 0
        and isinstance(obj["id"], str)
        and isinstance(obj["text_sha"], str)
        and obj["status"] in RECORD_STATUSES
        and isinstance(obj.get("error", 0), str | None)
        and isinstance(obj["fields"], dict)
        and (fields is None or set(obj["fields"]) == set(fields))
    )


# --- the lock -------------------------------------------------------------------------------


class RunFolderInUse(ConfigError):
    """Another run holds the folder's lock (exit code 2)."""


_held: dict[Path, list[int]] = {}  # folder → [fd, thread id, depth] of the locks this process holds
_held_guard = threading.Lock()


class RunLock:
    """The folder's lock for one run: an exclusive flock on `run.lock`, which also holds
    the pid of the run that took it (for the message a second run gets). Re-entrant in
    the thread that holds it (`run_task` takes it before the engine starts, `RunStore`
    again for the checkpoint); another thread or process is refused."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK

    def acquire(self) -> None:
        with writing(self.path):
            self.folder.mkdir(parents=True, exist_ok=True)
            key = self.folder.resolve()
            with _held_guard:
                if key in _held:
                    if _held[key][1] != threading.get_ident():
                        self._refuse(os.getpid())
                    _held[key][2] += 1
                    return
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    os.close(fd)
                    self._refuse(int(holder) if holder.isdigit() else None)
                with contextlib.suppress(OSError):  # the pid is for messages only
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                _held[key] = [fd, threading.get_ident(), 1]

    def release(self) -> None:
        key = self.folder.resolve()
        with _held_guard:
            held = _held.get(key)
            if held is None or held[1] != threading.get_ident():
                return
            held[2] -= 1
            if held[2] == 0:
                del _held[key]
                os.close(held[0])  # closing the descriptor releases the flock

    def _refuse(self, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "another process"
        raise RunFolderInUse(
            f"run folder in use by {who}: {self.folder} (wait for that run to end, "
            "or give another --run-name or --output-dir)"
        )

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class RecordRef:
    """Where one row's record is in the checkpoint (see `RunFolder.record_index`)."""

    offset: int
    status: str
    transient: bool


@dataclass(frozen=True)
class RunFolder:
    """One run's folder: its file names and how to read them back."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def stale_path(self) -> Path:
        return self.path / STALE

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def reviews_path(self) -> Path:
        return self.path / REVIEWS

    def is_run(self) -> bool:
        return self.manifest_path.is_file()

    def lock(self) -> RunLock:
        """The folder's lock (a context manager); held by every run that writes it."""
        return RunLock(self.path)

    def manifest(self) -> dict[str, Any]:
        """The manifest; ConfigError when the folder is not a run folder."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: not a run folder (no {MANIFEST})") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{self.manifest_path}: unreadable ({exc})") from exc
        if not isinstance(manifest, dict):
            raise ConfigError(f"{self.manifest_path}: not a manifest")
        return manifest

    def records(self) -> dict[int, dict[str, Any]]:
        """row → its record in the checkpoint (the last line written for a row wins;
        lines that are not records are skipped)."""
        out: dict[int, dict[str, Any]] = {}
        for _, _, rec in read_jsonl(self.records_path):
            if is_record(rec):
                assert rec is not None
                out[rec["row"]] = rec
        return out

    def record_index(self) -> dict[int, RecordRef]:
        """row → where its record is in the checkpoint (the last line for a row wins), its
        status and whether it failed for a passing reason: for readers that must not hold
        every record in memory (the service streams a job's records from it)."""
        out: dict[int, RecordRef] = {}
        for offset, _, rec in read_jsonl(self.records_path):
            if is_record(rec):
                assert rec is not None
                out[rec["row"]] = RecordRef(offset, rec["status"], bool(rec.get("transient")))
        return out

    def records_at(self, rows: Iterable[tuple[int, RecordRef]]) -> Iterator[dict[str, Any]]:
        """The records of (row, ref) pairs from `record_index`, in the order given. Stops
        at a line that is no longer that row's record (the checkpoint was rewritten since
        the index was made: read the index again)."""
        with self.records_path.open("rb") as fh:
            for row, ref in rows:
                fh.seek(ref.offset)
                try:
                    rec = json.loads(fh.readline())
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return
                if not is_record(rec) or rec["row"] != row:
                    return
                yield rec

    def schema(self) -> OutputSchema | None:
        """The output schema the run was made with: the manifest's copy, else the task
        file's schema when it is still the same (same hash); None when neither is there."""
        manifest = self.manifest()
        if isinstance(manifest.get("schema"), dict):
            try:
                return OutputSchema.from_json_schema(manifest["schema"], str(self.manifest_path))
            except ConfigError:
                return None
        source = (manifest.get("task") or {}).get("source")
        if not source or not Path(source).is_file():
            return None
        try:
            spec = read_json_object(Path(source), "task file")
            schema = load_schema(spec.get("Parser_Format"), Path(source).parent / "parsers", source)
        except ConfigError:
            return None
        return schema if schema.hash == manifest.get("schema_hash") else None

    def reviews(self) -> list[dict[str, Any]]:
        """The reviewers' decisions in the order they were made (complete JSON object lines;
        review.py checks their shape)."""
        return [obj for _, _, obj in read_jsonl(self.reviews_path) if obj is not None]

    def append_reviews(self, decisions: Iterable[dict[str, Any]]) -> None:
        append_lines(self.reviews_path, (dumps(d) for d in decisions))

    def predictions(self) -> list[dict[str, Any]] | None:
        """The predictions file (input order), or None when the run has not written it."""
        if not self.predictions_path.exists():
            return None
        return json.loads(self.predictions_path.read_text(encoding="utf-8"))

    def input_texts(self, rows: Collection[int]) -> dict[int, str]:
        """Report texts by row, read back from the data file the manifest names (a run
        without a predictions file keeps no text); {} when that file is gone or unreadable."""
        task = self.manifest().get("task") or {}
        data, field = task.get("data"), task.get("input_field")
        if not rows or not data or not field or not Path(data).is_file():
            return {}
        try:
            source = DataSource(Path(data), field, task.get("id_field"))
            wanted = set(rows)
            return {row.index: row.text for row in source if row.index in wanted}
        except ConfigError:
            return {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.manifest_path, manifest, indent=2)


# --- the checkpoint -------------------------------------------------------------------------


class RunStore:
    """Appends finished records to a run folder's checkpoint and knows which rows are done.
    Holds the folder's lock from construction to `close()`."""

    def __init__(
        self,
        folder: RunFolder | Path,
        config_hash: str,
        overwrite: bool = False,
        fields: Iterable[str] | None = None,
    ):
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.run_dir = self.folder.path
        self.config_hash = config_hash
        self.records_path = self.folder.records_path
        self.predictions_path = self.folder.predictions_path
        self.fields = tuple(fields) if fields is not None else None  # the schema's fields
        # A fixed-size index per row, so memory does not grow with the rows' contents:
        # offsets[row] = byte offset of that row's line in records.jsonl, -1 = not done;
        # digests[row] = 64-bit hash of (id, text sha); statuses[row] = status number.
        self._offsets = array("q")
        self._digests = array("q")
        self._statuses = bytearray()
        self._status_names: list[str] = []
        self.stale = 0  # lines of another configuration, moved aside
        self.dropped = 0  # damaged lines (garbage, half-written, a row twice), removed
        self.mismatched = 0  # rows whose record was made from other input (see done())
        self._lines = 0  # lines in the checkpoint; more than the rows done: some superseded
        self._lock = self.folder.lock()
        self._lock.acquire()
        try:
            with writing(self.records_path):
                if overwrite:
                    for name in RUN_FILES:
                        (self.run_dir / name).unlink(missing_ok=True)
                for leftover in self._leftovers():
                    leftover.unlink(missing_ok=True)
                self._recover()
                self._fh = self.records_path.open("ab", buffering=0)  # every write at once
                self._end = os.fstat(self._fh.fileno()).st_size
        except BaseException:
            self._lock.release()
            raise

    # --- resume ------------------------------------------------------------------------
    def _leftovers(self) -> list[Path]:
        """Temporary files of writes a killed run did not finish (ours: we hold the lock)."""
        return [
            *self.run_dir.glob(f".{PREDICTIONS}.*"),
            *self.run_dir.glob(f".{MANIFEST}.*"),
            self.records_path.with_suffix(".jsonl.tmp"),
        ]

    def _recover(self) -> None:
        """Keep the lines of this configuration, the last one of each row; move other
        configurations' lines aside; drop what is not a record, and both records of a
        row that has two final ones (which one is right cannot be told). The file is
        rewritten whenever anything was left out, so the offsets of the index are
        offsets into the file as it now is."""
        if not self.records_path.exists():
            return
        last: dict[int, tuple[bytes, dict[str, Any]]] = {}  # row → its last line, file order
        lines_of: dict[int, int] = {}  # row → how many lines it has
        twice: set[int] = set()
        stale: list[bytes] = []
        good_end = superseded = 0
        for offset, line, rec in read_jsonl(self.records_path):
            good_end = offset + len(line)
            if not is_record(rec, self.fields):
                self.dropped += 1
                continue
            assert rec is not None
            if rec.get("config") != self.config_hash:
                stale.append(line)
                continue
            lines_of[rec["row"]] = lines_of.get(rec["row"], 0) + 1
            earlier = last.pop(rec["row"], None)
            if earlier is not None:
                superseded += 1
                if not earlier[1].get("transient") and _same_input(earlier[1], rec):
                    twice.add(rec["row"])  # two final answers for one input: damage
            last[rec["row"]] = (line, rec)
        if good_end != self.records_path.stat().st_size:
            self.dropped += 1  # a half-written last line
        for row in twice:
            del last[row]
            self.dropped += lines_of[row]
        if stale:
            self.stale = len(stale)
            with self.folder.stale_path.open("ab") as fh:
                fh.writelines(stale)
        if stale or self.dropped or superseded:
            tmp = self.records_path.with_suffix(".jsonl.tmp")
            with tmp.open("wb") as fh:
                fh.writelines(line for line, _ in last.values())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.records_path)
        offset = 0
        for line, rec in last.values():
            if not rec.get("transient"):  # a passing failure is computed again
                self._index(rec, offset)
            offset += len(line)
        self._lines = len(last)

    def done(self, row: int, row_id: str, text_sha: str) -> bool:
        """Whether this row was finished under this configuration, for the same input.
        A record for other input (the data changed, or a damaged checkpoint holds another
        row's record) is counted in `mismatched`, and the row is computed again."""
        if row >= len(self._offsets) or self._offsets[row] < 0:
            return False
        if self._digests[row] == _digest(row_id, text_sha):
            return True
        self.mismatched += 1
        return False

    def status(self, row: int) -> str:
        return self._status_names[self._statuses[row]]

    @property
    def finished_rows(self) -> int:
        return sum(1 for off in self._offsets if off >= 0)

    # --- writing -----------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Append one finished record; it is in the file (the OS's) when this returns. A
        line the disk could not take whole is cut off again before the error is raised."""
        line = (dumps({**record, "config": self.config_hash}) + "\n").encode("utf-8")
        offset = self._end
        with writing(self.records_path):
            try:
                view = memoryview(line)
                while view:
                    view = view[self._fh.write(view) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fh.fileno(), offset)
                raise
        self._end += len(line)
        self._lines += 1
        self._index(record, offset)

    def _index(self, record: dict[str, Any], offset: int) -> None:
        row = record["row"]
        if row >= len(self._offsets):
            grow = row + 1 - len(self._offsets)
            self._offsets.extend([-1] * grow)
            self._digests.extend([0] * grow)
            self._statuses.extend(bytes(grow))
        if record["status"] not in self._status_names:
            self._status_names.append(record["status"])
        self._offsets[row] = offset
        self._digests[row] = _digest(record["id"], record["text_sha"])
        self._statuses[row] = self._status_names.index(record["status"])

    @contextmanager
    def reader(self) -> Iterator[Callable[[int], dict[str, Any] | None]]:
        """A function row → its stored record (None when not done)."""
        with self.records_path.open("rb") as fh:

            def read(row: int) -> dict[str, Any] | None:
                if row >= len(self._offsets) or self._offsets[row] < 0:
                    return None
                fh.seek(self._offsets[row])
                return json.loads(fh.readline())

            yield read

    def write_final(self, items: Iterable[dict[str, Any]]) -> None:
        """The predictions file: a JSON list in input order, streamed, written atomically."""

        def chunks() -> Iterator[str]:
            yield "["
            for n, item in enumerate(items):
                yield ("," if n else "") + "\n" + dumps(item)
            yield "\n]\n"

        with writing(self.records_path):
            if self._lines > self.finished_rows:
                self._compact()
            os.fsync(self._fh.fileno())
        atomic_write(self.predictions_path, chunks())

    def _compact(self) -> None:
        """Rewrite the checkpoint with one line per row, its current one, in row order:
        rows computed again (after a passing failure, or over a record made from other
        input) leave their earlier line behind otherwise."""
        tmp = self.records_path.with_suffix(".jsonl.tmp")
        with self.records_path.open("rb") as src, tmp.open("wb") as dst:
            for row, offset in enumerate(self._offsets):
                if offset >= 0:
                    src.seek(offset)
                    self._offsets[row] = dst.tell()
                    dst.write(src.readline())
            dst.flush()
            os.fsync(dst.fileno())
        self._fh.close()
        os.replace(tmp, self.records_path)
        self._fh = self.records_path.open("ab", buffering=0)
        self._end = os.fstat(self._fh.fileno()).st_size
        self._lines = self.finished_rows

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.folder.write_manifest(manifest)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
            self._lock.release()


def _same_input(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["id"] == b["id"] and a["text_sha"] == b["text_sha"]


def _digest(row_id: str, text_sha: str) -> int:
    """A row's identity and input as one signed 64-bit number (for the resume check)."""
    key = f"{row_id}\x00{text_sha}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)
