"""The run folder, and the one place that knows its paths and files.

    <output-dir>/<run-name>/<task>-run<k>/
      records.jsonl                   one line per finished row, flushed at once (checkpoint)
      records.stale.jsonl             lines from an earlier configuration, moved aside
      manifest.json                   how the run was made (written atomically)
      nlp-predictions-dataset.json    input order, written atomically at the end
      report.html                     the run report (report.py), holds report text
      reviews.jsonl                   reviewers' decisions, appended (review.py); kept by
                                      --overwrite: they are a person's work, not the model's
    <output-dir>/<run-name>/<task>-translations.jsonl   the --translate cache

`RunFolder` names every file and reads them back (everyone who reads a run goes through
it); `RunStore` appends to the checkpoint during a run. A record line carries the
configuration hash it was made under. On resume, lines with the current hash count as
done; lines from another configuration are moved aside and their rows computed again.
A line half-written when the process was killed, or one that is not a record at all, is
dropped before anything new is appended.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import DataSource, json_default, read_json_object
from .errors import ConfigError
from .schema import OutputSchema, load_schema
from .settings import Settings

RECORDS, MANIFEST, PREDICTIONS = "records.jsonl", "manifest.json", "nlp-predictions-dataset.json"
STALE = "records.stale.jsonl"
REPORT = "report.html"
REVIEWS = "reviews.jsonl"
RUN_FILES = (RECORDS, MANIFEST, PREDICTIONS, STALE, REPORT)  # what --overwrite removes
RECORD_KEYS = ("row", "id", "text_sha", "status", "fields")  # what every record line has


def run_dir(settings: Settings, task_name: str, k: int = 0) -> Path:
    """Where run `k` of a task is written."""
    return settings.output_dir / settings.run_name / f"{task_name}-run{k}"


def run_dirs(settings: Settings, task_name: str) -> list[Path]:
    return [run_dir(settings, task_name, k) for k in range(settings.n_runs)]


def translations_path(settings: Settings, task_name: str) -> Path:
    """The --translate cache, shared by every run of the task under this run name."""
    return settings.output_dir / settings.run_name / f"{task_name}-translations.jsonl"


# --- files --------------------------------------------------------------------------------


def atomic_write(path: Path, chunks: Iterable[str]) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    atomic_write(path, [dumps(obj, indent) + "\n"])


def dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(obj, ensure_ascii=False, default=json_default, allow_nan=False, indent=indent)


def read_jsonl(path: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(offset, line, object) for every complete line of a JSON-lines file; the object is
    None when the line is not a JSON object. A last line without its newline (the
    process was killed while writing it) is not yielded."""
    if not path.exists():
        return
    offset = 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                return
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                obj = None
            yield offset, line, obj if isinstance(obj, dict) else None
            offset += len(line)


def append_lines(path: Path, lines: Iterable[str]) -> None:
    """Append JSON lines crash-safely, like the checkpoint: a half line left by a process
    killed while writing is cut off first (else the next line would be glued to it), the
    new lines go out in one write and are fsynced before this returns."""
    data = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _append_lock, path.open("a+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                fh.seek(0)
                whole = fh.read()
                fh.truncate(whole.rfind(b"\n") + 1)
        fh.seek(0, os.SEEK_END)
        fh.write(data.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


_append_lock = threading.Lock()  # threads of one process (the Studio's sessions) take turns


def is_record(obj: dict[str, Any] | None) -> bool:
    return (
        obj is not None
        and all(k in obj for k in RECORD_KEYS)
        and isinstance(obj["row"], int)
        and obj["row"] >= 0
        and isinstance(obj["fields"], dict)
    )


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
    """Appends finished records to a run folder's checkpoint and knows which rows are done."""

    def __init__(self, folder: RunFolder | Path, config_hash: str, overwrite: bool = False):
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.run_dir = self.folder.path
        self.config_hash = config_hash
        self.records_path = self.folder.records_path
        self.predictions_path = self.folder.predictions_path
        if overwrite and self.run_dir.exists():
            for name in RUN_FILES:
                (self.run_dir / name).unlink(missing_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # A fixed-size index per row, so memory does not grow with the rows' contents:
        # offsets[row] = byte offset of that row's line in records.jsonl, -1 = not done;
        # digests[row] = 64-bit hash of (id, text sha); statuses[row] = status number.
        self._offsets = array("q")
        self._digests = array("q")
        self._statuses = bytearray()
        self._status_names: list[str] = []
        self.stale = 0  # lines of another configuration, moved aside
        self.dropped = 0  # lines that were not records (garbage, half-written), removed
        self._recover()
        self._fh = self.records_path.open("ab")

    # --- resume ------------------------------------------------------------------------
    def _recover(self) -> None:
        """Keep the lines of this configuration; move other configurations' lines aside;
        drop what is not a record. The file is rewritten whenever anything was left out,
        so the offsets of the index are offsets into the file as it now is."""
        if not self.records_path.exists():
            return
        keep: list[tuple[bytes, dict[str, Any]]] = []
        stale: list[bytes] = []
        good_end = 0
        for offset, line, rec in read_jsonl(self.records_path):
            good_end = offset + len(line)
            if not is_record(rec):
                self.dropped += 1
            elif rec.get("config") == self.config_hash:  # type: ignore[union-attr]
                keep.append((line, rec))  # type: ignore[arg-type]
            else:
                stale.append(line)
        if good_end != self.records_path.stat().st_size:
            self.dropped += 1  # a half-written last line
        if stale:
            self.stale = len(stale)
            with self.folder.stale_path.open("ab") as fh:
                fh.writelines(stale)
        if stale or self.dropped:
            tmp = self.records_path.with_suffix(".jsonl.tmp")
            with tmp.open("wb") as fh:
                fh.writelines(line for line, _ in keep)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.records_path)
        offset = 0
        for line, rec in keep:
            if not rec.get("transient"):  # a passing failure is computed again
                self._index(rec, offset)
            offset += len(line)

    def done(self, row: int, row_id: str, text_sha: str) -> bool:
        """Whether this row was finished under this configuration, for the same input."""
        if row >= len(self._offsets) or self._offsets[row] < 0:
            return False
        return self._digests[row] == _digest(row_id, text_sha)

    def status(self, row: int) -> str:
        return self._status_names[self._statuses[row]]

    @property
    def finished_rows(self) -> int:
        return sum(1 for off in self._offsets if off >= 0)

    # --- writing -----------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Append one finished record and flush it to the OS before returning."""
        line = (dumps({**record, "config": self.config_hash}) + "\n").encode("utf-8")
        offset = self._fh.tell()
        self._fh.write(line)
        self._fh.flush()
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
        self._fh.flush()
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

        self._fh.flush()
        os.fsync(self._fh.fileno())
        atomic_write(self.predictions_path, chunks())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.folder.write_manifest(manifest)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _digest(row_id: str, text_sha: str) -> int:
    """A row's identity and input as one signed 64-bit number (for the resume check)."""
    key = f"{row_id}\x00{text_sha}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)
