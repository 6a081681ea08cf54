"""Task files, compatible with llm_extractinator's.

A task file `Task{NNN}_{name}.json` holds `Description`, `Data_Path` (under --data-dir),
`Input_Field`, `Parser_Format` (a `.py`/`.json` file in `<task-dir>/parsers/`, or an
inline object) and optionally `Example_Path` (under --example-dir) and `Id_Field`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import read_json_object
from .errors import ConfigError
from .schema import OutputSchema, load_schema
from .settings import Settings

KNOWN_KEYS = {
    "Description",
    "Data_Path",
    "Input_Field",
    "Parser_Format",
    "Example_Path",
    "Id_Field",
    "Task_Name",
}


@dataclass(frozen=True)
class Task:
    name: str  # e.g. "Task001_radiology"; names the output folder
    description: str
    input_field: str
    schema: OutputSchema
    data_path: Path | None = None
    example_path: Path | None = None
    id_field: str | None = None
    source: Path | None = None
    # >0: ask the engine for the top-k alternatives per answer token and keep them in the
    # record (`logprobs`), e.g. to turn a yes/no answer into a probability (DRAGON).
    top_logprobs: int = 0


def _folder_name(name: str) -> bool:
    """Whether a name can name a folder of its own (no path, nothing hidden or special)."""
    return 0 < len(name) <= 200 and not ({"/", "\\", "\x00"} & set(name)) and name[0] != "."


def find_task_file(task_id: int, task_dir: Path) -> Path:
    """`Task{id:03d}*.json` where the character after the number is not a digit."""
    if not task_dir.is_dir():
        raise ConfigError(f"task folder not found: {task_dir}")
    prefix = f"Task{task_id:03d}"
    pattern = re.compile(re.escape(prefix) + r"(?!\d).*\.json$")
    matches = sorted(p for p in task_dir.iterdir() if pattern.match(p.name))
    if not matches:
        raise ConfigError(f"no task file {prefix}*.json in {task_dir}")
    if len(matches) > 1:
        raise ConfigError(
            f"several task files match {prefix}: " + ", ".join(p.name for p in matches)
        )
    return matches[0]


def resolve_task_ref(ref: str | Path | int | None, settings: Settings) -> Path:
    """A task given as a path, a number ("1", 1) or a file name in --task-dir."""
    if ref is None:
        raise ConfigError("no task given: pass a task file or --task-id N")
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return find_task_file(int(ref), settings.task_dir)
    path = Path(ref)
    if path.exists():
        return path
    if (settings.task_dir / path).exists():
        return settings.task_dir / path
    raise ConfigError(f"task file not found: {ref}")


def load_task(ref: str | Path | int | None, settings: Settings) -> Task:
    path = resolve_task_ref(ref, settings)
    return task_from_dict(read_json_object(path, "task file"), settings, source=path)


def task_from_dict(spec: Any, settings: Settings, source: Path | None = None) -> Task:
    where = str(source) if source else "task"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a task file must be a JSON object")
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    for key in ("Description", "Input_Field", "Parser_Format"):
        if key not in spec:
            raise ConfigError(f"{where}: missing required key {key!r}")
    for key in ("Description", "Input_Field", "Data_Path", "Example_Path", "Id_Field", "Task_Name"):
        if key in spec and not isinstance(spec[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    task_dir = source.parent if source else settings.task_dir
    schema = load_schema(
        spec["Parser_Format"], task_dir / "parsers", where, allow_code=not settings.no_code
    )
    if "Task_Name" in spec and not _folder_name(spec["Task_Name"]):
        raise ConfigError(
            f"{where}: Task_Name {spec['Task_Name'][:80]!r} must be a plain name, not a path "
            "(it names the output folder)"
        )
    name = spec.get("Task_Name") or (source.stem if source else "Task")
    return Task(
        name=name,
        description=spec["Description"],
        input_field=spec["Input_Field"],
        schema=schema,
        data_path=settings.data_dir / spec["Data_Path"] if spec.get("Data_Path") else None,
        example_path=(
            settings.example_dir / spec["Example_Path"] if spec.get("Example_Path") else None
        ),
        id_field=spec.get("Id_Field"),
        source=source,
    )
