"""One DRAGON job through the core pipeline, then the official predictions file.

    <OUTPUT>/<TaskName>-fold<k>/nlp-predictions-dataset.json   what the evaluator reads
    <OUTPUT>/<TaskName>-fold<k>/run/                            the pipeline's run folder
        records.jsonl, manifest.json                            (checkpoint, resume, audit)
        dragon.json                                             how the job was run, plus
                                                                the ablation predictions

The job's test cases become a `RecordsSource`; its training and validation cases are the
few-shot pool. The ground truth is never read here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data import RecordsSource
from ..engines import Engine
from ..errors import ConfigError
from ..pipeline import ProgressCallback, RunSummary, run_once
from ..prompting import PromptBuilder
from ..settings import AUTO, Settings
from ..store import RunFolder, write_json
from ..task import Task
from .adapters import Adapter, make_adapter
from .inputs import BudgetPool, TokenCounter, examples_for, fit, room_for_input
from .instructions import Instruction, instruction_for
from .jobs import PREDICTIONS, Job

INPUT = "report"
RUN_DIR = "run"
SIDECAR = "dragon.json"
# DRAGON chooses its own number of examples per case: `num_examples` "auto" (the
# default elsewhere: up to 3 from the task's examples) means this for a DRAGON job.
DRAGON_NUM_EXAMPLES = 0


@dataclass
class JobResult:
    job: str
    predictions_path: Path
    summary: RunSummary
    cases: int
    truncated: int
    examples_asked: int
    examples_given: int


def task_description(instruction: Instruction, adapter: Adapter) -> str:
    return f"{instruction.text}\n{adapter.guidance}".strip()


def run_job(
    job: Job,
    settings: Settings,
    engine: Engine,
    output: Path,
    *,
    count: TokenCounter | None = None,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> JobResult:
    """Run one job; writes `<output>/<job>/nlp-predictions-dataset.json`."""
    # DRAGON scores labels, and its reports may be cut to fit: no evidence spans here
    settings = settings.model_copy(update={"evidence": "off"})
    if settings.num_examples == AUTO:
        settings = settings.model_copy(update={"num_examples": DRAGON_NUM_EXAMPLES})
    count = count or TokenCounter(engine)
    instruction = instruction_for(job.task_name, job.label_name)
    adapter = make_adapter(job, instruction)
    description = task_description(instruction, adapter)
    task = Task(
        name=job.name,
        description=description,
        input_field=INPUT,
        schema=adapter.schema,
        top_logprobs=adapter.top_logprobs,
    )
    system_tokens = count(PromptBuilder(description, adapter.schema).system)
    try:
        report_room, total_room = room_for_input(
            settings.ctx_per_slot, settings.max_tokens, system_tokens, settings.num_examples
        )
    except ValueError as exc:
        raise ConfigError(f"{job.name}: {exc}") from exc

    cases = job.test[:limit] if limit else job.test
    rows, truncated = [], 0
    for case in cases:
        text, cut = fit(job, case, instruction, report_room, count)
        rows.append({"uid": str(case["uid"]), INPUT: text})
        truncated += cut
    pool = None
    if settings.num_examples > 0:
        # an example may take its share of the room, and never more than a third of it
        cap = min(total_room // 3, max(256, total_room // (settings.num_examples + 1)))
        examples = examples_for(job, adapter, instruction, cap, count)
        balance = job.label_name == "single_label_binary_classification_target"
        pool = BudgetPool(examples, count, total_room, balance) if examples else None

    job_dir = Path(output) / job.name
    folder = RunFolder(job_dir / RUN_DIR)
    source = RecordsSource(rows, INPUT, "uid", name=str(job.path / "nlp-test-dataset.json"))
    summary = run_once(task, source, settings, engine, folder, pool, on_progress, say)

    records = folder.records()
    predictions, variants = [], {}
    for i, case in enumerate(cases):
        record = records.get(i)
        predictions.append({"uid": case["uid"], job.prediction_key: adapter.predict(record, case)})
        for name, value in adapter.variants(record, case).items():
            variants.setdefault(name, []).append({"uid": case["uid"], job.prediction_key: value})
    write_json(job_dir / PREDICTIONS, predictions)
    write_json(
        folder.path / SIDECAR,
        {
            "job": job.name,
            "label_name": job.label_name,
            "instruction": "generic" if instruction.generic else "task-specific",
            "description": description,
            "cases": len(cases),
            "limit": limit,
            "truncated_inputs": truncated,
            "truncation_side": job.truncation_side,
            "token_counting": "llama.cpp /tokenize" if count.exact else "estimate",
            "context": {"report_tokens": report_room, "prompt_tokens": total_room},
            "examples": {
                "per_case": settings.num_examples,
                "pool": len(pool.examples) if pool else 0,
                "asked": pool.asked if pool else 0,
                "given": pool.given if pool else 0,
            },
            "variants": variants,
        },
    )
    return JobResult(
        job.name,
        job_dir / PREDICTIONS,
        summary,
        len(cases),
        truncated,
        pool.asked if pool else 0,
        pool.given if pool else 0,
    )
