"""The Python API: the same pipeline as the CLI, returning pandas DataFrames::

>>> from clinextract import extract
>>> df = extract(["CT thorax: nodus 6 mm ..."], MySchema, description="...", parallel=4)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from .data import DataSource, RecordsSource
from .engines import Engine
from .pipeline import ProgressCallback, RunSummary
from .pipeline import run_task as _run_task
from .schema import OutputSchema, load_schema
from .settings import Settings
from .task import Task, load_task

DataLike = list[str] | list[dict[str, Any]] | pd.DataFrame | str | Path
SchemaLike = type[BaseModel] | dict[str, Any] | OutputSchema


def make_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """A Settings object from keyword arguments (same names as the CLI's long options)."""
    base = settings.model_dump() if settings else {}
    return Settings(**{**base, **overrides})


def as_schema(schema: SchemaLike) -> OutputSchema:
    if isinstance(schema, OutputSchema):
        return schema
    if isinstance(schema, dict):
        return load_schema(schema, Path("."), "<schema>")
    return OutputSchema.from_model(schema, getattr(schema, "__name__", "<model>"))


def as_source(data: DataLike, input_field: str, id_field: str | None) -> DataSource:
    """Rows from what the caller has. A `str` is one report's text (never a file name:
    pass a `pathlib.Path` for a file); a list holds texts or dicts; a DataFrame its rows."""
    if isinstance(data, Path):
        return DataSource(data, input_field, id_field)
    if isinstance(data, str):
        data = [data]
    if isinstance(data, pd.DataFrame):
        records = data.to_dict(orient="records")
    else:
        records = [{input_field: item} if isinstance(item, str) else dict(item) for item in data]
    return RecordsSource(records, input_field, id_field)


def extract(
    data: DataLike,
    schema: SchemaLike,
    description: str = "Extract the fields from the report.",
    *,
    input_field: str = "text",
    examples: str | Path | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Extract `schema` from every text in `data`; one row out per row in, in order.

    data: one report text (a `str`), a list of strings, a list of dicts or a DataFrame
    (text in `input_field`), or a `pathlib.Path` to a CSV/JSON/JSONL/Parquet file.
    schema: a Pydantic model or a JSON Schema.
    Other keyword arguments are Settings fields (`parallel=4`, `num_examples=3`, ...).
    Pass `output_dir=...` to keep the run folder (checkpoint, manifest); otherwise it is
    temporary. Pass a loaded `engine` to reuse one model across calls.
    """
    cfg = make_settings(settings, **overrides)
    task = Task(
        name="extract",
        description=description,
        input_field=input_field,
        schema=as_schema(schema),
        example_path=Path(examples) if examples else None,
    )
    source = as_source(data, input_field, cfg.id_field)
    if "output_dir" in overrides or (settings and "output_dir" in settings.model_fields_set):
        summary = _run_task(task, cfg, source=source, engine=engine, on_progress=on_progress)[-1]
        return read_predictions(summary.predictions_path)
    with tempfile.TemporaryDirectory(prefix="clinextract-") as tmp:
        cfg = cfg.model_copy(update={"output_dir": Path(tmp)})
        summary = _run_task(task, cfg, source=source, engine=engine, on_progress=on_progress)[-1]
        return read_predictions(summary.predictions_path)


def run_task(
    task: str | Path | int | Task,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Run a task file (path or id in `task_dir`) like `clinextract run`; returns the
    predictions of the last run as a DataFrame."""
    cfg = make_settings(settings, **overrides)
    loaded = task if isinstance(task, Task) else load_task(task, cfg)
    summaries: list[RunSummary] = _run_task(loaded, cfg, engine=engine, on_progress=on_progress)
    return read_predictions(summaries[-1].predictions_path)


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions file as a DataFrame, values as written (no type guessing)."""
    # object dtype: None stays None and "007" stays a str (no NaN, no dtype guessing)
    return pd.DataFrame(json.loads(Path(path).read_text(encoding="utf-8")), dtype=object)
