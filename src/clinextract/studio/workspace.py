"""The Studio's folders: tasks, data and example files, uploads, saving a task.

Where things are comes from the one `Settings` object (task_dir, data_dir, example_dir,
output_dir), so a task saved here is found by `clinextract run` given the same folders.
A task is saved as `TaskNNN_name.json` plus its JSON Schema in `parsers/TaskNNN_name.json`,
and is loaded back through `clinextract.task` before the Studio reports success.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import FORMATS, DataSource, as_text, read_json_object
from ..errors import ConfigError
from ..schema import OutputSchema, load_schema
from ..settings import Settings
from ..store import atomic_write
from ..task import Task, load_task

ENV_SETTINGS = "CLINEXTRACT_STUDIO_SETTINGS"
PATH_FIELDS = ("task_dir", "data_dir", "example_dir", "output_dir")
_TASK_FILE = re.compile(r"^Task(\d{3,})(?!\d)(.*)\.json$")
MAX_LISTED = 500


def base_settings() -> Settings:
    """The Settings the Studio was started with (`clinextract studio --task-dir ...`).
    The Studio never runs Python code from a task folder: `.py` parsers are refused."""
    raw = os.environ.get(ENV_SETTINGS)
    settings = Settings.model_validate_json(raw) if raw else Settings()
    return settings.model_copy(update={"no_code": True})


def settings_env(settings: Settings) -> str:
    return settings.model_dump_json(include=set(PATH_FIELDS))


# --- tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskEntry:
    number: int
    name: str  # the part after the number, without the leading "_"
    path: Path

    @property
    def label(self) -> str:
        return self.path.name


def list_tasks(task_dir: Path) -> list[TaskEntry]:
    if not task_dir.is_dir():
        return []
    out = []
    for path in sorted(task_dir.iterdir()):
        match = _TASK_FILE.match(path.name)
        if match and path.is_file():
            out.append(TaskEntry(int(match.group(1)), match.group(2).lstrip("_"), path))
    return out


def next_task_number(task_dir: Path) -> int:
    return max((t.number for t in list_tasks(task_dir)), default=0) + 1


def slug(name: str) -> str:
    """A file-name-safe task name: 'Lung nodules (CT)' → 'lung_nodules_ct'."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def task_file_name(number: int, name: str) -> str:
    if number < 1 or number > 999:
        raise ConfigError("the task number must be between 1 and 999")
    clean = slug(name)
    return f"Task{number:03d}_{clean}.json" if clean else f"Task{number:03d}.json"


def read_task_spec(path: Path) -> dict[str, Any]:
    return read_json_object(path, "task file")


def task_schema(spec: dict[str, Any], task_path: Path) -> OutputSchema:
    """The schema a task file points at (JSON or inline; a .py parser is refused: the
    Studio runs no code from a task folder)."""
    if "Parser_Format" not in spec:
        raise ConfigError(f"{task_path}: no Parser_Format")
    return load_schema(
        spec["Parser_Format"], task_path.parent / "parsers", str(task_path), allow_code=False
    )


def save_task(
    settings: Settings,
    *,
    number: int,
    name: str,
    description: str,
    data_path: str,
    input_field: str,
    schema: dict[str, Any] | None,
    example_path: str | None = None,
    id_field: str | None = None,
    replaces: Path | None = None,
    keep_parser: str | dict[str, Any] | None = None,
) -> Task:
    """Write the task (and its schema unless `keep_parser` names the existing one) and
    return it as `clinextract run` will load it. `replaces` is the task file being edited:
    it may be renamed, and it is the only file allowed to hold this task number."""
    task_dir = settings.task_dir
    file_name = task_file_name(number, name)
    path = task_dir / file_name
    if not description.strip():
        raise ConfigError("the task needs a description (what to extract, for the model)")
    if not input_field:
        raise ConfigError("choose the column that holds the report text")
    if not data_path:
        raise ConfigError("choose a dataset")
    clash = [
        t.path
        for t in list_tasks(task_dir)
        if t.number == number and (replaces is None or t.path.resolve() != replaces.resolve())
    ]
    if clash:
        raise ConfigError(f"task number {number} is taken by {clash[0].name}; pick another")
    if keep_parser is None:
        if schema is None:
            raise ConfigError("the task has no schema")
        OutputSchema.from_json_schema(schema, file_name)  # refuse before writing anything
        parser_name = file_name
        atomic_write(
            task_dir / "parsers" / parser_name,
            [json.dumps(schema, indent=2, ensure_ascii=False) + "\n"],
        )
    else:
        parser_name = keep_parser
    spec: dict[str, Any] = {
        "Description": description.strip(),
        "Data_Path": data_path,
        "Input_Field": input_field,
        "Parser_Format": parser_name,
    }
    if example_path:
        spec["Example_Path"] = example_path
    if id_field:
        spec["Id_Field"] = id_field
    atomic_write(path, [json.dumps(spec, indent=2, ensure_ascii=False) + "\n"])
    if replaces is not None and replaces.exists() and replaces.resolve() != path.resolve():
        replaces.unlink()
    return load_task(path, settings)


def run_command(settings: Settings, number: int) -> str:
    """The `clinextract run` line that runs the saved task with the same folders."""
    return (
        f"clinextract run --task-dir {settings.task_dir} --task-id {number} "
        f"--data-dir {settings.data_dir} --example-dir {settings.example_dir} "
        f"--output-dir {settings.output_dir}"
    )


# --- data and example files ---------------------------------------------------------------


def list_data_files(folder: Path) -> list[str]:
    """Data files under `folder` (any depth), as paths relative to it."""
    if not folder.is_dir():
        return []
    found = (
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix.lower() in FORMATS and not p.name.startswith(".")
    )
    return [p.relative_to(folder).as_posix() for p in itertools.islice(found, MAX_LISTED)]


def save_upload(folder: Path, file_name: str, content: bytes) -> str:
    """Store an uploaded file in `folder`; returns its name there. An existing file with
    other content is never overwritten: the new one gets a numbered name."""
    name = Path(file_name).name  # no folders from the browser
    if Path(name).suffix.lower() not in FORMATS:
        raise ConfigError(f"{name}: use one of {', '.join(sorted(FORMATS))}")
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in itertools.count():
        candidate = folder / (name if n == 0 else f"{stem}_{n}{suffix}")
        if not candidate.exists():
            atomic_write_bytes(candidate, content)
            return candidate.name
        if candidate.read_bytes() == content:
            return candidate.name
    raise AssertionError("unreachable")


def atomic_write_bytes(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.upload")
    tmp.write_bytes(content)
    os.replace(tmp, path)


class _Peek(DataSource):
    """A data file opened before its text column is chosen (columns and first rows)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"data file not found: {self.path}")
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise ConfigError(f"{self.path}: unsupported data format")
        self.columns = self._columns()


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    rows: list[dict[str, Any]]
    text_column: str | None  # the best guess for the report text


def preview(path: Path, n: int = 5) -> Preview:
    """Columns and the first rows of a data file, read the way a run reads it."""
    try:
        peek = _Peek(path)
        rows = list(itertools.islice(peek._records(), n))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason})") from exc
    return Preview(peek.columns, rows, guess_text_column(peek.columns, rows))


def guess_text_column(columns: list[str], rows: list[dict[str, Any]]) -> str | None:
    """The column with the longest text on average (a report is the longest cell)."""
    if not columns:
        return None
    for preferred in ("text", "report", "report_text"):
        if preferred in columns:
            return preferred

    def mean_length(column: str) -> float:
        cells = [r.get(column) for r in rows]
        return sum(len(as_text(c)) for c in cells if isinstance(c, str)) / max(1, len(cells))

    return max(columns, key=mean_length)


def relative_to(path: Path, folder: Path) -> str:
    """`path` written relative to `folder` when it lies inside it (as task files do)."""
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)
