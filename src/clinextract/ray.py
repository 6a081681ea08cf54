"""clinextract for Ray Data pipelines: a Dataset of reports in, a Dataset of records out.

>>> import ray
>>> from clinextract.ray import extract_dataset
>>> ds = ray.data.read_parquet("s3://archive/reports/")             # your data, in Ray
>>> out = extract_dataset(ds, "tasks/Task001_radiology.json", workers=8, parallel=4)
>>> out.write_parquet("s3://archive/extracted/")

`map_batches` with an actor class: each actor builds one engine once (the embedded
model, or a client of a server: `{node}` in a --base-url is the actor's node) and runs
the whole pipeline on each batch (prompt, few-shot examples, validation, repair) as
`clinextract run` would. Each output row is one item of the predictions file: every
input column unchanged, the schema's fields, `status`, `error` and whatever else the
pipeline puts there. No run folder is kept and nothing resumes: Ray Data runs a batch
again when its actor dies. For a crash-safe, resumable run over a cluster use
`clinextract run --executor ray` (docs/scale.md).

The 'ray' extra; Ray is joined the way `ray.data` joins it (an initialized session,
$RAY_ADDRESS, or a local one).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import cloudpickle  # Ray's own copy: the one its serializer consults
from ray.util import get_node_ip_address

from .api import SchemaLike, as_schema, as_source, make_settings, read_predictions
from .engines import create_engine
from .engines.ray_worker import worker_settings
from .pipeline import run_task
from .settings import Settings
from .task import Task, load_task

DEFAULT_BATCH = 64  # rows per batch: large enough to keep every slot busy, small to retry


def extract_dataset(
    ds: ray.data.Dataset,
    task_or_schema: str | Path | int | Task | SchemaLike,
    description: str = "Extract the fields from the report.",
    *,
    input_field: str | None = None,
    examples: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    settings: Settings | None = None,
    **overrides: Any,
) -> ray.data.Dataset:
    """Map `ds` (one report per row) to a Dataset of records, lazily, as Ray Data does.

    task_or_schema: a task file (path, or id in `task_dir`), a `Task`, a Pydantic model
    or a JSON Schema (then `description`, `input_field` default "text", `examples`).
    Other keyword arguments are Settings fields: `workers` actors of `worker_cpus` CPUs
    each, `parallel`, `num_examples`, `engine`, `base_url`, ...
    """
    cfg = make_settings(settings, **overrides)
    task = as_task(task_or_schema, cfg, description, input_field, examples)
    register_parser_by_value(task)
    return ds.map_batches(
        BatchExtractor,
        fn_constructor_kwargs={"task": task, "settings": cfg},
        batch_size=batch_size,
        batch_format="pandas",
        concurrency=cfg.workers,
        num_cpus=cfg.worker_cpus,
    )


def as_task(
    ref: Any,
    settings: Settings,
    description: str,
    input_field: str | None,
    examples: str | Path | None,
) -> Task:
    if isinstance(ref, Task):
        task = ref
    elif isinstance(ref, str | Path | int) and not isinstance(ref, bool):
        task = load_task(ref, settings)
    else:
        task = Task(
            name="extract",
            description=description,
            input_field=input_field or "text",
            schema=as_schema(ref),
            example_path=Path(examples) if examples else None,
        )
    if input_field and input_field != task.input_field:
        task = Task(**{**task.__dict__, "input_field": input_field})
    return task


def register_parser_by_value(task: Task) -> None:
    """A task's `.py` parser is imported under a private module name that the workers
    cannot import: ship its code with the task instead of a reference to it."""
    module = sys.modules.get(task.schema.model.__module__)
    if module is not None and module.__name__.startswith("clinextract_parser_"):
        cloudpickle.register_pickle_by_value(module)


class BatchExtractor:
    """One Ray Data actor: its engine is built once and serves every batch."""

    def __init__(self, task: Task, settings: Settings):
        self.task = task
        # Ray Data does not number its actors: the actor id picks one of several URLs
        index = int(ray.get_runtime_context().get_actor_id() or "0", 16)
        own = worker_settings(settings, index, get_node_ip_address())
        self.settings = own.model_copy(update={"n_runs": 1, "overwrite": True})
        self.engine = create_engine(self.settings)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        source = as_source(batch, self.task.input_field, self.settings.id_field)
        with tempfile.TemporaryDirectory(prefix="clinextract-batch-") as tmp:
            settings = self.settings.model_copy(update={"output_dir": Path(tmp)})
            [summary] = run_task(self.task, settings, source=source, engine=self.engine)
            return read_predictions(summary.predictions_path)
