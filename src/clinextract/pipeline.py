"""Drive rows through prompting, the engine, validation and the store.

One pass: rows stream in; each becomes a request (static prompt prefix first, few-shot
examples, the report); requests keep every engine slot busy, longest reports first
within a small read-ahead; each answer goes through `validation.next_step`, which may
send a follow-up; every finished record is appended to the checkpoint before it is
reported. At the end the predictions file is written in input order.

Progress flows up through a callback (`on_progress`), never by importing a face.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .data import DataSource, RecordsSource, Row, as_text
from .engines import Completion, Engine, Request, create_engine
from .errors import ClinextractError, ConfigError, EngineError, InternalError, WriteError
from .examples import ExamplePool, FewShot, few_shot
from .grounding import CONFIDENCE_TOP_K, ground
from .manifest import build_manifest, finish_manifest
from .prompting import PromptBuilder
from .quality import QualityCheck
from .records import PREDICTION_COLUMNS, make_record, prediction_item, text_sha
from .report import REPORT_AUTO_ROWS, write_report
from .review import reviewed_examples
from .schema import OutputSchema
from .settings import Settings, stable_hash
from .store import RunFolder, RunStore, run_dir, run_dirs
from .task import Task
from .validation import (
    FAILURE,
    PARTIAL,
    SUCCESS,
    Outcome,
    RowAttempts,
    extract_json,
    next_step,
    split_reasoning,
)

META_COLUMNS = PREDICTION_COLUMNS  # the predictions file's own columns
READ_AHEAD = 4  # rows read ahead per in-flight request, to order them by length


@dataclass
class Progress:
    total: int
    done: int = 0
    successes: int = 0
    partials: int = 0
    failures: int = 0
    reused: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def computed(self) -> int:
        return self.done - self.reused

    @property
    def docs_per_s(self) -> float:
        return self.computed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed if self.elapsed > 0 else 0.0

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.total,
            "success": self.successes,
            "partial": self.partials,
            "failure": self.failures,
            "reused": self.reused,
        }

    def timings(self) -> dict[str, float]:
        return {
            "seconds": round(self.elapsed, 3),
            "docs_per_s": round(self.docs_per_s, 4),
            "completion_tokens_per_s": round(self.tokens_per_s, 2),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass
class RunSummary:
    task: str
    run_dir: Path
    predictions_path: Path
    rows: int
    successes: int
    partials: int
    failures: int
    reused: int
    seconds: float
    docs_per_s: float
    tokens_per_s: float
    prompt_tokens: int
    completion_tokens: int
    warnings: list[str] = field(default_factory=list)
    num_examples: int = 0  # few-shot examples per report, as used
    examples_source: str | None = None  # where they came from (a file, "in memory")

    @classmethod
    def of(
        cls,
        task: str,
        folder: RunFolder,
        progress: Progress,
        warnings: list[str] | None = None,
        shots: FewShot | None = None,
    ) -> RunSummary:
        return cls(
            task=task,
            run_dir=folder.path,
            predictions_path=folder.predictions_path,
            rows=progress.total,
            successes=progress.successes,
            partials=progress.partials,
            failures=progress.failures,
            reused=progress.reused,
            seconds=progress.elapsed,
            docs_per_s=progress.docs_per_s,
            tokens_per_s=progress.tokens_per_s,
            prompt_tokens=progress.prompt_tokens,
            completion_tokens=progress.completion_tokens,
            warnings=list(warnings or []),
            num_examples=shots.per_report if shots else 0,
            examples_source=shots.source if shots else None,
        )


ProgressCallback = Callable[[Progress, dict[str, Any] | None], None]
StopCheck = Callable[[], bool]


class RunCancelled(ClinextractError):
    """`should_stop` asked the run to stop. Finished records stay in the checkpoint and
    the manifest says `interrupted`; running the same task again resumes."""


def run_task(
    task: Task,
    settings: Settings,
    *,
    source: DataSource | None = None,
    engine: Engine | None = None,
    pool: ExamplePool | None = None,
    on_progress: ProgressCallback | None = None,
    on_status: Callable[[str], None] | None = None,
    should_stop: StopCheck | None = None,
) -> list[RunSummary]:
    """Run a task `settings.n_runs` times; returns one summary per run.

    `pool`: few-shot examples given in memory, instead of the task's Example_Path.
    `should_stop` is polled after each finished row (and before each run); when it
    returns True the run stops cooperatively with `RunCancelled`."""
    say = on_status or (lambda message: None)
    if source is None:
        if task.data_path is None:
            raise ConfigError(f"{task.source or task.name}: no Data_Path and no data given")
        source = DataSource(task.data_path, task.input_field, settings.id_field or task.id_field)
    check_columns(task, source)
    shots = few_shot(task, settings.num_examples, pool, reviewed_pools(task, settings))
    with contextlib.ExitStack() as held:
        # Before the model loads: a second run on the same folders stops at once, and a
        # broken data file (a ragged row, a bad JSON line) is found by reading it through.
        for path in run_dirs(settings, task.name):
            held.enter_context(RunFolder(path).lock())
        if len(source) == 0 and not isinstance(source, RecordsSource):  # [] from the API is fine
            raise ConfigError(f"{source.path}: no rows to extract")
        say(f"few-shot examples: {shots.describe()}")  # after the checks: an error is one line
        if engine is None:
            say(f"starting the {settings.engine} engine ...")
            engine = create_engine(settings)
            held.callback(engine.close)  # before the locks are released
        if settings.translate:  # pre-pass: reports to English, cached in the run folder
            from .translate import translated_source

            source = translated_source(task.name, source, settings, engine, say)
        summaries = []
        for k in range(settings.n_runs):
            if should_stop is not None and should_stop():
                raise RunCancelled(f"cancelled before run {k} of {settings.n_runs}")
            folder = RunFolder(run_dir(settings, task.name, k))
            run_settings = settings.model_copy(update={"seed": settings.seed + k})
            summaries.append(
                run_once(
                    task,
                    source,
                    run_settings,
                    engine,
                    folder,
                    shots,
                    on_progress,
                    say,
                    should_stop=should_stop,
                )
            )
        return summaries


def reviewed_pools(task: Task, settings: Settings) -> list[ExamplePool]:
    """One pool per `--examples-from` run: its fully reviewed records, validated against
    the task's schema (few_shot joins them to the task's own examples)."""
    return [reviewed_examples(run, task.schema) for run in settings.examples_from]


def check_columns(task: Task, source: DataSource) -> None:
    clash = [c for c in (*task.schema.field_names, *META_COLUMNS) if c in source.columns]
    if clash:
        raise ConfigError(
            f"{source.path}: input column(s) {', '.join(map(repr, clash))} "
            "would be overwritten by output fields; rename them in the data "
            "or the schema"
        )


def run_once(
    task: Task,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    folder: RunFolder | Path,
    pool: FewShot | ExamplePool | None = None,
    on_progress: ProgressCallback | None = None,
    say: Callable[[str], None] = lambda message: None,
    *,
    should_stop: StopCheck | None = None,
) -> RunSummary:
    """One run into `folder`. `pool`: the examples as resolved by `few_shot`, or a pool
    from which `settings.num_examples` are taken per report (DRAGON's own pools)."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    shots = pool if isinstance(pool, FewShot) else FewShot.of(pool, settings.num_examples)
    prompts = PromptBuilder(task.description, task.schema)
    config = {
        **settings.output_config(),
        "num_examples": shots.per_report,  # "auto" and the number it stands for: one run
        "model": engine.model_id,
        "prompt": prompts.hash,
        "schema": task.schema.hash,
        "input_field": task.input_field,
        "examples": shots.hash,
        **({"top_logprobs": task.top_logprobs} if task.top_logprobs else {}),
    }
    store = RunStore(
        folder, stable_hash(config), overwrite=settings.overwrite, fields=task.schema.field_names
    )
    progress = Progress(total=len(source))
    if store.dropped:
        say(
            f"{folder.path}: {store.dropped} damaged checkpoint line(s) removed; "
            "those rows are run again"
        )
    if store.stale:
        say(
            f"{folder.path}: the configuration changed; {store.stale} earlier records were "
            "moved to records.stale.jsonl and their rows run again"
        )
    if store.finished_rows:
        say(f"{folder.path}: resuming, {store.finished_rows} rows already done")
    manifest = build_manifest(task, source, settings, engine, config, shots)
    store.write_manifest(manifest)
    status, warnings = "interrupted", []
    records = _records(task, source, settings, engine, prompts, shots, store)
    try:
        for record, text in records:
            if not record.get("reused"):
                store.append(record)  # on disk before it is reported
            _count(progress, record)
            if on_progress:
                # report text reaches the faces' logs only when the user asked for it
                on_progress(progress, {**record, "text": text} if settings.log_text else record)
            if should_stop is not None and should_stop():
                raise RunCancelled(f"cancelled after {progress.done} of {progress.total} rows")
        if store.mismatched:
            say(
                f"{folder.path}: {store.mismatched} checkpoint record(s) were made from other "
                "input (the data changed, or the checkpoint was damaged); those rows were run "
                "again"
            )
        check = QualityCheck(task.schema.field_names)
        store.write_final(_final_items(source, store, check))
        warnings = check.warnings()
        status = "complete"
    finally:
        records.close()
        store.close()
        counts = {**progress.counts(), "stale_ignored": store.stale, "damaged": store.dropped}
        finished = finish_manifest(manifest, status, counts, progress.timings(), warnings)
        try:
            store.write_manifest(finished)
        except ClinextractError:
            if status == "complete":
                raise
            # else an error is under way (the disk is full, ...): that is the one to tell
    if status == "complete" and progress.total > REPORT_AUTO_ROWS:
        # the report is built in memory, and one page of that many records is no help
        say(
            f"{progress.total} rows: no report.html (more than {REPORT_AUTO_ROWS:,}); "
            f"`clinextract report {folder.path}` writes it"
        )
    elif status == "complete":  # the run report reads the finished folder back
        try:
            write_report(folder)
        except (ConfigError, WriteError) as exc:  # the run itself is complete and on disk
            say(f"{exc}; write it again with `clinextract report {folder.path}`")
    return RunSummary.of(task.name, folder, progress, warnings, shots)


def _count(progress: Progress, record: dict[str, Any]) -> None:
    progress.done += 1
    if record.get("reused"):
        progress.reused += 1
    if record["status"] == SUCCESS:
        progress.successes += 1
    elif record["status"] == PARTIAL:
        progress.partials += 1
    else:
        progress.failures += 1
    progress.prompt_tokens += record.get("prompt_tokens", 0)
    progress.completion_tokens += record.get("completion_tokens", 0)


@dataclass
class RowWork:
    """One row on its way: its attempts, and once answered, the samples for confidence."""

    row: Row
    attempts: RowAttempts
    outcome: Outcome | None = None  # settled, waiting for its samples
    samples: list[dict[str, Any] | None] = field(default_factory=list)


def _records(
    task: Task,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    prompts: PromptBuilder,
    shots: FewShot,
    store: RunStore,
) -> Generator[tuple[dict[str, Any], str], None, None]:
    """(finished record, its report text), in the order they finish."""
    window = max(1, engine.capacity * 2)  # a queued request per slot: no idle gaps
    rows = iter(source)
    pending: list[tuple[int, int, Row]] = []  # heap: longest report first
    in_flight: dict[Future, RowWork] = {}
    exhausted = primed = False
    grounding = settings.evidence == "on"
    samples = settings.samples if grounding else 0
    top_logprobs = task.top_logprobs
    if grounding and not samples:  # confidence from the answer tokens' probabilities
        top_logprobs = max(top_logprobs, CONFIDENCE_TOP_K)

    def submit(work: RowWork, request: Request) -> None:
        nonlocal primed
        if not primed:  # the instruction every request starts with, once for all slots
            primed = True
            engine.prime([{"role": "system", "content": prompts.system}])
        in_flight[engine.submit(request)] = work

    def finish(work: RowWork) -> tuple[dict[str, Any], str]:
        outcome = work.outcome
        assert outcome is not None
        grounded = None
        if grounding:
            text = as_text(work.row.columns.get(task.input_field)) or work.row.text
            sampled = work.samples if samples else None
            grounded = ground(task.schema, outcome, text, settings.review_below, sampled)
        record = make_record(work.row, outcome, work.attempts, grounded, bool(task.top_logprobs))
        return record, work.row.text

    try:
        while True:
            while not exhausted and len(pending) < window * READ_AHEAD:
                row = next(rows, None)
                if row is None:
                    exhausted = True
                    break
                if store.done(row.index, row.id, text_sha(row.text)):
                    reused = {"row": row.index, "status": store.status(row.index), "reused": True}
                    yield reused, row.text
                    continue
                if not row.text:
                    empty = Outcome(FAILURE, task.schema.null_fields(), "empty input text")
                    yield make_record(row, empty, None), row.text
                    continue
                heapq.heappush(pending, (-len(row.text), row.index, row))
            while pending and len(in_flight) < window:
                row = heapq.heappop(pending)[2]
                request = Request(
                    prompts.messages(row.text, shots.select(row.text)),
                    task.schema.grammar_schema,
                    settings.max_tokens,
                    settings.temperature,
                    settings.seed,
                    top_logprobs=top_logprobs,
                )
                submit(RowWork(row, RowAttempts(request)), request)
            if not in_flight:
                if exhausted and not pending:
                    return
                continue
            finished, _ = wait(in_flight, settings.wait_timeout, return_when=FIRST_COMPLETED)
            if not finished:
                raise EngineError(
                    f"no answer from the {engine.name} engine in {settings.wait_timeout:g} s "
                    f"({len(in_flight)} requests waiting; --wait-timeout)"
                )
            fatal: BaseException | None = None
            for future in finished:
                work = in_flight.pop(future)
                if future.exception() is not None:  # the engine itself failed
                    fatal = fatal or future.exception()
                    continue
                if work.outcome is not None:  # a sample for confidence
                    work.samples.append(sampled_fields(task.schema, future.result()))
                    if len(work.samples) == samples:
                        yield finish(work)
                    continue
                step = next_step(task.schema, work.attempts, future.result())
                if isinstance(step, Request):
                    submit(work, step)
                    continue
                work.outcome = step
                if samples and step.status != FAILURE:
                    for n in range(samples):
                        submit(work, sample_request(work.attempts, settings, n))
                else:
                    yield finish(work)
            if fatal is not None:  # after saving every answer that did arrive
                raise fatal
    finally:
        for future in in_flight:
            future.cancel()


SAMPLE_TEMPERATURE = 0.7


def sample_request(attempts: RowAttempts, settings: Settings, n: int) -> Request:
    """The row's first request again, sampled (another seed each), for self-consistency."""
    first = attempts.first
    return replace(
        first,
        temperature=max(settings.temperature, SAMPLE_TEMPERATURE),
        seed=settings.seed + 1 + n,
        top_logprobs=0,
    )


def sampled_fields(schema: OutputSchema, completion: Completion) -> dict[str, Any] | None:
    """A sample's fields as validated field by field, or None when it gave nothing."""
    if completion.finish_reason != "stop":
        return None
    try:
        obj = json.loads(extract_json(split_reasoning(completion.text)[0]))
    except ValueError:
        return None
    return schema.salvage(obj)[0] if isinstance(obj, dict) else None


def _final_items(
    source: DataSource, store: RunStore, check: QualityCheck
) -> Iterator[dict[str, Any]]:
    with store.reader() as read:
        for row in source:
            rec = read(row.index)
            if rec is None:  # cannot happen after a complete pass; never write a silent gap
                raise InternalError(f"row {row.index} has no record; re-run to complete it")
            check.add(rec)
            yield prediction_item(row.columns, rec)


__all__ = ["Progress", "RunCancelled", "RunSummary", "run_task", "run_once", "asdict"]
