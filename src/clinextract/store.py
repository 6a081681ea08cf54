"""The run folder: a checkpoint appended per record, a manifest, an atomic final file.

    <run_dir>/records.jsonl                   one line per finished row, flushed at once
    <run_dir>/manifest.json                   how the run was made (written atomically)
    <run_dir>/nlp-predictions-dataset.json    input order, written atomically at the end

A record line carries the configuration hash it was made under. On resume, lines with
the current hash count as done; lines from another configuration are moved aside to
`records.stale.jsonl` and their rows are computed again. A line half-written when the
process was killed is cut off before anything new is appended.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .data import json_default

RECORDS, MANIFEST, PREDICTIONS = "records.jsonl", "manifest.json", "nlp-predictions-dataset.json"
STALE = "records.stale.jsonl"


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


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=json_default, allow_nan=False)


class RunStore:
    def __init__(self, run_dir: Path, config_hash: str, overwrite: bool = False):
        self.run_dir = Path(run_dir)
        self.config_hash = config_hash
        self.records_path = self.run_dir / RECORDS
        self.manifest_path = self.run_dir / MANIFEST
        self.predictions_path = self.run_dir / PREDICTIONS
        if overwrite and self.run_dir.exists():
            for name in (RECORDS, MANIFEST, PREDICTIONS, STALE):
                (self.run_dir / name).unlink(missing_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # A fixed-size index per row, so memory does not grow with the rows' contents:
        # offsets[row] = byte offset of that row's line in records.jsonl, -1 = not done;
        # digests[row] = 64-bit hash of (id, text sha); statuses[row] = status number.
        self._offsets = array("q")
        self._digests = array("q")
        self._statuses = bytearray()
        self._status_names: list[str] = []
        self.stale = 0
        self._recover()
        self._fh = self.records_path.open("ab")

    # --- resume ------------------------------------------------------------------------
    def _recover(self) -> None:
        if not self.records_path.exists():
            return
        keep, stale, good_end = [], [], 0
        with self.records_path.open("rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # half-written by a killed process
                good_end += len(line)
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                (keep if rec.get("config") == self.config_hash else stale).append(line)
        if stale:
            self.stale = len(stale)
            with (self.run_dir / STALE).open("ab") as fh:
                fh.writelines(stale)
        if stale or good_end != self.records_path.stat().st_size:
            tmp = self.records_path.with_suffix(".jsonl.tmp")
            with tmp.open("wb") as fh:
                fh.writelines(keep)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.records_path)
        offset = 0
        for line in keep:
            rec = json.loads(line)
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
        atomic_write(
            self.manifest_path,
            [json.dumps(manifest, indent=2, ensure_ascii=False, default=json_default) + "\n"],
        )

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _digest(row_id: str, text_sha: str) -> int:
    """A row's identity and input as one signed 64-bit number (for the resume check)."""
    key = f"{row_id}\x00{text_sha}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)
