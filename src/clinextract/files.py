"""Writing files so that a crash, a full disk or a read-only folder never leaves a
half-written file where a whole one is expected: `writing()` turns an OSError into a
`WriteError` (one line, exit code 1) naming the file; `atomic_write` writes beside the
target and renames over it; `read_jsonl` reads JSON-lines files, skipping a last line a
killed process left half-written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .data import json_default
from .errors import WriteError


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing `path` is a WriteError: one line, exit code 1."""
    try:
        yield
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from exc


def atomic_write(path: Path, chunks: Iterable[str]) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    with writing(path):
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
    """Strict JSON. NaN and Infinity (an input cell read from Parquet or a lenient JSON
    file) have no JSON spelling: they are written as null, as missing values are."""
    try:
        return json.dumps(
            obj, ensure_ascii=False, default=json_default, allow_nan=False, indent=indent
        )
    except ValueError:
        return json.dumps(_finite(obj), ensure_ascii=False, default=json_default, indent=indent)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


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
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
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
    with writing(path), _append_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        _append(path, data)


def _append(path: Path, data: str) -> None:
    with path.open("a+b") as fh:
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
