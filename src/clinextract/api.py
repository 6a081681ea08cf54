"""The Python API: the same pipeline as the CLI, for Python habits.

>>> from clinextract import Extractor
>>> with Extractor(Report, "Lees het verslag.", examples=[(text, Report(...)), ...]) as ex:
...     result = ex.extract(["CT thorax: nodus 6 mm ...", ...])   # a Result
...     for record in ex.stream(many_texts): ...                   # as they finish
>>> result.df, result.records, result.models(), result.summary

`extract(...)` is the one-call form: it loads the model, runs, closes, returns a DataFrame.
See docs/api.md.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from .data import DataSource, RecordsSource
from .engines import Engine, create_engine
from .errors import ConfigError
from .examples import ExamplePool, few_shot
from .pipeline import ProgressCallback, RunCancelled, RunSummary
from .pipeline import run_task as _run_task
from .progress import ProgressBar
from .result import Result, read_predictions
from .schema import OutputSchema, load_schema
from .settings import Settings
from .store import RunFolder, run_dir
from .task import Task, load_task

DataLike = list[str] | list[dict[str, Any]] | pd.DataFrame | str | Path | DataSource
SchemaLike = type[BaseModel] | dict[str, Any] | OutputSchema
# a file of examples, or examples in memory: {"input": text, "output": ...} or (text, output)
ExamplesLike = str | Path | Iterable[dict[str, Any] | tuple[str, Any]] | pd.DataFrame | ExamplePool
DEFAULT_DESCRIPTION = "Extract the fields from the report."
STREAM_BUFFER = 256  # finished records waiting for a slow consumer before the run waits


def make_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """A Settings object from keyword arguments (same names as the CLI's long options)."""
    base = settings.model_dump() if settings else {}
    return Settings(**{**base, **overrides})


def as_schema(schema: SchemaLike) -> OutputSchema:
    """An OutputSchema from a Pydantic model class or a JSON Schema dict."""
    if isinstance(schema, OutputSchema):
        return schema
    if isinstance(schema, dict):
        return load_schema(schema, Path("."), "<schema>")
    return OutputSchema.from_model(schema, getattr(schema, "__name__", "<model>"))


def as_source(data: DataLike, input_field: str, id_field: str | None) -> DataSource:
    """Rows from what the caller has. A `str` is one report's text (never a file name:
    pass a `pathlib.Path` for a file); a list holds texts or dicts; a DataFrame its rows."""
    if isinstance(data, DataSource):
        return data
    if isinstance(data, Path):
        return DataSource(data, input_field, id_field)
    if isinstance(data, str):
        data = [data]
    if isinstance(data, pd.DataFrame):
        records = data.to_dict(orient="records")
    else:
        records = [{input_field: item} if isinstance(item, str) else dict(item) for item in data]
    return RecordsSource(records, input_field, id_field)


def as_examples(examples: ExamplesLike | None, schema: OutputSchema) -> ExamplePool | None:
    """A validated example pool: a file (a path, as a `str` or `Path`) or Python objects."""
    if examples is None or isinstance(examples, ExamplePool):
        return examples
    if isinstance(examples, str | Path):
        return ExamplePool.load(Path(examples), schema)
    if isinstance(examples, pd.DataFrame):  # columns input and output
        examples = examples.to_dict(orient="records")
    if isinstance(examples, dict):
        raise ConfigError("examples: give a list of examples, not one dict")
    return ExamplePool.from_items(examples, schema)


class Extractor:
    """A schema, a description and examples, with the engine loaded once.

    `Extractor(schema, description, examples=..., **settings)`: `schema` is a Pydantic
    model class or a JSON Schema; `examples` a file path or a list of
    `{"input": text, "output": dict | model}` / `(text, output)` pairs, validated against
    the schema, `num_examples` of them (default "auto": up to 3) picked per report by
    BM25; other keyword arguments are Settings fields (`parallel=4`, `output_dir=...`).
    Pass `engine=` to share a loaded engine (it is then not closed here).

    Use it as a context manager (or call `close()`): the engine is freed at the end.
    Calls from several threads share the engine's slots.
    """

    def __init__(
        self,
        schema: SchemaLike,
        description: str = DEFAULT_DESCRIPTION,
        *,
        examples: ExamplesLike | None = None,
        input_field: str = "text",
        name: str = "extract",
        engine: Engine | None = None,
        settings: Settings | None = None,
        progress: bool = True,
        **overrides: Any,
    ):
        self.settings = make_settings(settings, **overrides)
        self.keep_runs = "output_dir" in overrides or bool(
            settings and "output_dir" in settings.model_fields_set
        )
        output_schema = as_schema(schema)
        self.pool = as_examples(examples, output_schema)
        self.task = Task(
            name=name,
            description=description,
            input_field=input_field,
            schema=output_schema,
            example_path=Path(examples) if isinstance(examples, str | Path) else None,
        )
        self.examples = few_shot(self.task, self.settings.num_examples, self.pool)
        self.progress = progress
        self._own_engine = engine is None
        self.engine = engine or create_engine(self.settings)  # the model loads here, once
        self._closed = False
        self._busy: set[Path] = set()  # run folders in use by a call
        self._lock = threading.Lock()

    # --- the calls ------------------------------------------------------------------
    def extract(
        self,
        data: DataLike,
        *,
        output_dir: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool | None = None,
    ) -> Result:
        """Extract from every row of `data` (one report text, a list of texts or dicts,
        a DataFrame, or a `pathlib.Path` to a data file); one record per row, in order.
        With `n_runs` > 1 the Result is the last run's."""
        source = self._source(data)
        with self._run_settings(output_dir) as (cfg, keep), self._bar(progress) as bar:
            summaries = self._run(source, cfg, bar.combine(on_progress), bar.say)
            return Result.read(summaries[-1], self.task.schema, keep=keep)

    def extract_one(self, text: str) -> dict[str, Any]:
        """The record for one report text (status, error, fields, ...)."""
        if not isinstance(text, str):
            raise ConfigError(f"extract_one takes one report text, got {type(text).__name__}")
        return self.extract(text, progress=False).records[0]

    def stream(
        self,
        data: DataLike,
        *,
        output_dir: str | Path | None = None,
        progress: bool | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records as they finish (not in input order: each has its `row`, the 0-based
        input position), every row exactly once; each is on disk before it is yielded.
        For large inputs: memory does not grow with the rows. Stopping early (`break`)
        stops the run."""
        source = self._source(data)  # checked now, not at the first record
        if self.settings.n_runs != 1:
            raise ConfigError("stream runs once: n_runs must be 1")
        return self._streamed(source, output_dir, progress)

    # --- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Free the engine (when this Extractor loaded it)."""
        if not self._closed:
            self._closed = True
            if self._own_engine:
                self.engine.close()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Extractor({self.task.schema.source}, fields={list(self.task.schema.field_names)}, "
            f"examples: {self.examples.describe()}, engine={self.engine.name})"
        )

    # --- inside ---------------------------------------------------------------------
    def _source(self, data: DataLike) -> DataSource:
        if self._closed:
            raise ConfigError("this Extractor is closed")
        return as_source(data, self.task.input_field, self.settings.id_field)

    def _run(
        self,
        source: DataSource,
        cfg: Settings,
        on_progress: ProgressCallback | None,
        say: Any,
        should_stop: Any = None,
    ) -> list[RunSummary]:
        return _run_task(
            self.task,
            cfg,
            source=source,
            engine=self.engine,
            pool=self.pool,
            on_progress=on_progress,
            on_status=say,
            should_stop=should_stop,
        )

    @contextmanager
    def _run_settings(self, output_dir: str | Path | None) -> Iterator[tuple[Settings, bool]]:
        """(the run's settings, whether its folder is kept): a temporary folder unless
        an output_dir was given; a kept folder is used by one call at a time."""
        if output_dir is None and not self.keep_runs:
            with tempfile.TemporaryDirectory(prefix="clinextract-") as tmp:
                yield self.settings.model_copy(update={"output_dir": Path(tmp)}), False
            return
        cfg = self.settings
        if output_dir is not None:
            cfg = cfg.model_copy(update={"output_dir": Path(output_dir)})
        folder = (cfg.output_dir / cfg.run_name / self.task.name).resolve()
        with self._lock:
            if folder in self._busy:
                raise ConfigError(f"{folder}: in use by another call; give another output_dir")
            self._busy.add(folder)
        try:
            yield cfg, True
        finally:
            with self._lock:
                self._busy.discard(folder)

    def _bar(self, progress: bool | None) -> AbstractContextManager[ProgressBar]:
        return ProgressBar.open(self.progress if progress is None else progress, self.settings)

    def _streamed(
        self, source: DataSource, output_dir: str | Path | None, progress: bool | None
    ) -> Iterator[dict[str, Any]]:
        with self._run_settings(output_dir) as (cfg, _), self._bar(progress) as bar:
            yield from self._records_of(source, cfg, bar)

    def _records_of(
        self, source: DataSource, cfg: Settings, bar: ProgressBar
    ) -> Iterator[dict[str, Any]]:
        """The pipeline in a worker thread; its records come back through a bounded
        queue (a slow consumer holds the run, not memory)."""
        finished: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=STREAM_BUFFER)
        stop = threading.Event()

        def hand_over(item: tuple[str, Any]) -> None:
            while not stop.is_set():
                try:
                    finished.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def on_record(progress: Any, record: dict[str, Any] | None) -> None:
            bar.update(progress, record)
            if record is not None:
                hand_over(("record", record))

        def work() -> None:
            try:
                self._run(source, cfg, on_record, bar.say, should_stop=stop.is_set)
            except BaseException as exc:  # noqa: BLE001 - raised again in the consumer
                hand_over(("error", exc))
            else:
                hand_over(("end", None))

        worker = threading.Thread(target=work, name="clinextract-stream", daemon=True)
        worker.start()
        earlier: dict[int, dict[str, Any]] | None = None  # a resumed run's records
        try:
            while True:
                kind, item = finished.get()
                if kind == "end":
                    return
                if kind == "error":
                    if isinstance(item, RunCancelled) and stop.is_set():
                        return
                    raise item
                if item.get("reused"):  # finished by an earlier run: read it back
                    if earlier is None:
                        earlier = RunFolder(run_dir(cfg, self.task.name)).records()
                    item = earlier[item["row"]]
                yield item
        finally:
            stop.set()
            worker.join()


def extract(
    data: DataLike,
    schema: SchemaLike,
    description: str = DEFAULT_DESCRIPTION,
    *,
    input_field: str = "text",
    examples: ExamplesLike | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
    progress: bool = True,
    **overrides: Any,
) -> pd.DataFrame:
    """Extract `schema` from every text in `data`; one row out per row in, in order.

    The one-call form of `Extractor(...).extract(data).df`: it loads the model, runs,
    and frees the model (pass a loaded `engine` to reuse one; better: keep an Extractor).
    data: one report text (a `str`), a list of strings, a list of dicts or a DataFrame
    (text in `input_field`), or a `pathlib.Path` to a CSV/JSON/JSONL/Parquet file.
    schema: a Pydantic model or a JSON Schema. examples: a file path or a list (see
    `Extractor`). Other keyword arguments are Settings fields (`parallel=4`, ...). Pass
    `output_dir=...` to keep the run folder (checkpoint, manifest); otherwise it is
    temporary.
    """
    cfg = make_settings(settings, **overrides)
    source = as_source(data, input_field, cfg.id_field)  # a missing file: before the model loads
    with Extractor(
        schema,
        description,
        examples=examples,
        input_field=input_field,
        engine=engine,
        settings=settings,
        progress=progress,
        **overrides,
    ) as extractor:
        return extractor.extract(source, on_progress=on_progress).df


def run_task(
    task: str | Path | int | Task,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
    progress: bool = True,
    **overrides: Any,
) -> pd.DataFrame:
    """Run a task file (path or id in `task_dir`) like `clinextract run`; returns the
    predictions of the last run as a DataFrame."""
    cfg = make_settings(settings, **overrides)
    loaded = task if isinstance(task, Task) else load_task(task, cfg)
    with ProgressBar.open(progress, cfg) as bar:
        summaries = _run_task(
            loaded, cfg, engine=engine, on_progress=bar.combine(on_progress), on_status=bar.say
        )
    return read_predictions(summaries[-1].predictions_path)


__all__ = ["Extractor", "Result", "extract", "run_task", "read_predictions"]
