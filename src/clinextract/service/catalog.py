"""The tasks a service offers: every `Task*.json` in --task-dir, loaded at start-up.

Requests name a task; the name is looked up here and nowhere else, so a request can
never make the service read a path of its choosing. A broken task file stops the
start-up with one line naming it (as `clinextract run` would).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..examples import ExamplePool
from ..settings import Settings
from ..task import Task, load_task


class TaskCatalog:
    def __init__(self, tasks: dict[str, Task]):
        self._tasks = tasks

    @classmethod
    def load(cls, settings: Settings) -> TaskCatalog:
        folder = settings.task_dir
        if not folder.is_dir():
            raise ConfigError(f"task folder not found: {folder}")
        tasks: dict[str, Task] = {}
        for path in sorted(folder.glob("Task*.json")):
            task = load_task(path, settings)
            if task.name in tasks:
                raise ConfigError(f"{path}: a second task named {task.name!r}")
            if task.example_path is not None and settings.num_examples > 0:
                ExamplePool.load(task.example_path, task.schema)  # fails now, not per job
            tasks[task.name] = task
        if not tasks:
            raise ConfigError(f"no Task*.json files in {folder}")
        return cls(tasks)

    def names(self) -> list[str]:
        return list(self._tasks)

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    @staticmethod
    def describe(task: Task) -> dict[str, Any]:
        return {
            "name": task.name,
            "description": task.description,
            "input_field": task.input_field,
            "id_field": task.id_field,
            "fields": list(task.schema.field_names),
            "schema": task.schema.json_schema,
            "examples": task.example_path is not None,
        }
