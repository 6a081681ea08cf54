"""DRAGON job folders: `<TaskName>-fold<k>/` with a configuration and three datasets.

Only what a job folder holds is read here: the configuration, the training and
validation sets (with labels) and the test set (without). Ground truth lives elsewhere and
is read by `evaluate.py` alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import ConfigError

CONFIG = "nlp-task-configuration.json"
TRAINING = "nlp-training-dataset.json"
VALIDATION = "nlp-validation-dataset.json"
TEST = "nlp-test-dataset.json"
PREDICTIONS = "nlp-predictions-dataset.json"

LABEL_TYPES = (
    "single_label_binary_classification_target",
    "single_label_multi_class_classification_target",
    "multi_label_binary_classification_target",
    "multi_label_multi_class_classification_target",
    "single_label_regression_target",
    "multi_label_regression_target",
    "named_entity_recognition_target",
    "multi_label_named_entity_recognition_target",
)
_JOB_NAME = re.compile(r"^(?P<task>.+)-fold(?P<fold>\d+)$")


def prediction_key(label_name: str) -> str:
    """The key the evaluator looks for: the label name without `_target`."""
    return label_name.replace("_target", "")


@dataclass(frozen=True)
class Job:
    path: Path
    task_name: str
    fold: int
    input_name: str  # "text" or "text_parts"
    label_name: str
    truncation_side: str  # "left" | "right": the side to cut when a report is too long
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return f"{self.task_name}-fold{self.fold}"

    @property
    def prediction_key(self) -> str:
        return prediction_key(self.label_name)

    @property
    def task_number(self) -> int | None:
        match = re.match(r"Task(\d+)", self.task_name)
        return int(match.group(1)) if match else None

    def _read(self, name: str) -> list[dict[str, Any]]:
        path = self.path / name
        if not path.exists():
            raise ConfigError(f"{self.path}: missing {name}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ConfigError(f"{path}: expected a JSON list of objects")
        for n, row in enumerate(data):
            if "uid" not in row or self.input_name not in row:
                raise ConfigError(f"{path}: case {n} lacks 'uid' or {self.input_name!r}")
        return data

    @cached_property
    def training(self) -> list[dict[str, Any]]:
        return self._labelled(TRAINING)

    @cached_property
    def validation(self) -> list[dict[str, Any]]:
        if not (self.path / VALIDATION).exists():
            return []
        return self._labelled(VALIDATION)

    @cached_property
    def test(self) -> list[dict[str, Any]]:
        rows = self._read(TEST)
        uids = [str(r["uid"]) for r in rows]
        if len(set(uids)) != len(uids):
            raise ConfigError(f"{self.path / TEST}: duplicate uids")
        return rows

    def _labelled(self, name: str) -> list[dict[str, Any]]:
        rows = self._read(name)
        missing = [r["uid"] for r in rows if self.label_name not in r]
        if missing:
            raise ConfigError(f"{self.path / name}: no {self.label_name} for {missing[:3]}")
        return rows

    @property
    def development(self) -> list[dict[str, Any]]:
        """Every labelled case the job gives: training, then validation."""
        return self.training + self.validation


def load_job(path: Path) -> Job:
    path = Path(path)
    cfg_path = path / CONFIG
    if not cfg_path.exists():
        raise ConfigError(f"{path}: not a DRAGON job folder (no {CONFIG})")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{cfg_path}: invalid JSON ({exc.msg})") from exc
    for key in ("task_name", "input_name", "label_name"):
        if key not in cfg:
            raise ConfigError(f"{cfg_path}: missing {key!r}")
    if cfg["label_name"] not in LABEL_TYPES:
        raise ConfigError(
            f"{cfg_path}: unknown label_name {cfg['label_name']!r} "
            f"(known: {', '.join(LABEL_TYPES)})"
        )
    if cfg["input_name"] not in ("text", "text_parts"):
        raise ConfigError(f"{cfg_path}: input_name must be 'text' or 'text_parts'")
    match = _JOB_NAME.match(path.name)
    fold = int(match.group("fold")) if match else int(cfg.get("fold", 0))
    side = cfg.get("recommended_truncation_side", "left")
    if side not in ("left", "right"):
        raise ConfigError(f"{cfg_path}: recommended_truncation_side must be left or right")
    return Job(path, cfg["task_name"], fold, cfg["input_name"], cfg["label_name"], side, cfg)


def find_jobs(
    root: Path, tasks: tuple[str, ...] | list[str] = (), folds: tuple[int, ...] | list[int] = ()
) -> list[Job]:
    """Job folders under `root` (or `root` itself), filtered by task and fold.

    A task is given by its full name or any part of it (`101`, `Task101`), like the
    official evaluator; each given task must match exactly one task name."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"input folder not found: {root}")
    if (root / CONFIG).exists():
        jobs = [load_job(root)]
    else:
        jobs = [load_job(p) for p in sorted(root.iterdir()) if (p / CONFIG).exists()]
    if not jobs:
        raise ConfigError(f"{root}: no DRAGON job folders (<TaskName>-fold<k>/{CONFIG})")
    names = sorted({j.task_name for j in jobs})
    wanted = set(resolve_tasks(tasks, names)) if tasks else set(names)
    chosen = [j for j in jobs if j.task_name in wanted and (not folds or j.fold in folds)]
    if not chosen:
        raise ConfigError(f"{root}: no job matches --tasks {list(tasks)} --folds {list(folds)}")
    return sorted(chosen, key=lambda j: (j.task_name, j.fold))


def resolve_tasks(given: tuple[str, ...] | list[str], names: list[str]) -> list[str]:
    """Full or partial task names → full names, each matching exactly one."""
    out = []
    for task in given:
        task = str(task)
        if task in names:
            out.append(task)
            continue
        hits = [n for n in names if task in n]
        if task.isdigit():  # "1" should not match Task101 when Task001 exists
            hits = [n for n in names if re.match(rf"Task0*{int(task)}(?!\d)", n)] or hits
        if not hits:
            raise ConfigError(f"no task matches {task!r} (tasks: {', '.join(names)})")
        if len(hits) > 1:
            raise ConfigError(f"several tasks match {task!r}: {', '.join(hits)}")
        out.append(hits[0])
    return out
