"""Throughput A/B: clinextract's defaults (A) against llm_extractinator's pattern (B).

Both load the same GGUF with the same llama.cpp build once, before timing; model load is
reported but not counted. A and B then alternate over the repetitions (A,B then B,A ...)
so that drift in the machine's load falls on both. Figures are medians over repetitions.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinextract.engines.embedded import EmbeddedEngine, bundled_model
from clinextract.pipeline import run_task
from clinextract.settings import Settings
from clinextract.task import Task, load_task

from .baseline import ExtractinatorPattern, describe_pattern
from .dataset import Report, accuracy, write_task
from .machine import OtherLoad


@dataclass
class Sample:
    variant: str  # "A" or "B"
    rep: int
    seconds: float
    docs: int
    completion_tokens: int
    prompt_tokens: int
    valid: int
    cut_at_limit: int
    accuracy: float
    mean_latency: float  # seconds from a document's request to its answer, averaged
    other_cores: float = 0.0  # cores other processes kept busy meanwhile

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds


@dataclass
class ThroughputResult:
    docs: int
    reps: int
    samples: list[Sample]
    a_engine: dict[str, Any]
    b_pattern: dict[str, Any]
    load_seconds: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    report_tokens: float = 0.0  # median tokens of one report

    def median(self, variant: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples if s.variant == variant)

    @property
    def ratio(self) -> float:
        return self.median("A", "docs_per_s") / self.median("B", "docs_per_s")

    def rep_ratios(self) -> list[float]:
        """A/B within each repetition (the pairs ran back to back)."""
        by_rep: dict[int, dict[str, Sample]] = {}
        for s in self.samples:
            by_rep.setdefault(s.rep, {})[s.variant] = s
        return [
            pair["A"].docs_per_s / pair["B"].docs_per_s
            for _, pair in sorted(by_rep.items())
            if "A" in pair and "B" in pair
        ]


def run_a(
    task: Task, settings: Settings, engine: EmbeddedEngine, reports: list[Report], rep: int
) -> Sample:
    """The whole pipeline (read, prompt, engine, validate, checkpoint, final write)."""
    started = time.perf_counter()
    summary = run_task(task, settings, engine=engine)[-1]
    seconds = time.perf_counter() - started
    rows = json.loads(summary.predictions_path.read_text(encoding="utf-8"))
    predictions = {row["id"]: row for row in rows if row["status"] == "success"}
    records = [
        json.loads(line)
        for line in (summary.run_dir / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    cut = sum(any("cut at" in e for e in r.get("attempt_errors", [])) for r in records)
    latency = statistics.mean(r.get("seconds", 0.0) for r in records) if records else 0.0
    return Sample(
        "A",
        rep,
        seconds,
        summary.rows,
        summary.completion_tokens,
        summary.prompt_tokens,
        summary.successes,
        cut,
        accuracy(predictions, reports),
        latency,
    )


def run_b(baseline: ExtractinatorPattern, task: Task, reports: list[Report], rep: int) -> Sample:
    result = baseline.run(reports, task.description, task.schema)
    return Sample(
        "B",
        rep,
        result.seconds,
        result.docs,
        result.completion_tokens,
        result.prompt_tokens,
        result.valid,
        result.cut_at_limit,
        accuracy(result.predictions, reports),
        result.seconds / max(1, result.docs),
    )


def prepare(
    folder: Path, reports: list[Report], overrides: dict[str, Any] | None = None
) -> tuple[Task, Settings]:
    """The bench task written to `folder`, loaded with settings that write there too."""
    task_path = write_task(folder / "task", reports)
    settings = Settings(
        task_dir=folder / "task",
        data_dir=folder / "task",
        output_dir=folder / "out",
        overwrite=True,
        **(overrides or {}),
    )
    return load_task(task_path, settings), settings


def measure(
    reports: list[Report],
    reps: int,
    log: Callable[[str], None] = print,
    overrides: dict[str, Any] | None = None,
) -> ThroughputResult:
    with tempfile.TemporaryDirectory(prefix="clinextract-bench-") as tmp:
        task, base = prepare(Path(tmp), reports, overrides)
        with ExtractinatorPattern(bundled_model()[0], threads=base.threads) as probe:
            report_tokens = statistics.median(probe.count_tokens(r.text) for r in reports)
        load: dict[str, list[float]] = {"A": [], "B": []}
        a_engine: dict[str, Any] = {}
        samples: list[Sample] = []
        # Only one model is loaded at a time: an idle second llama.cpp server in the same
        # process measurably slowed the other (A 0.77 -> 0.70 docs/s with B's server idle).
        for rep in range(reps):
            order = "AB" if rep % 2 == 0 else "BA"
            for variant in order:
                if variant == "A":
                    # a fresh engine per repetition, as `clinextract run` starts one;
                    # loading the model is not timed (nor is B's)
                    with EmbeddedEngine(base) as engine:
                        load["A"].append(round(engine.load_seconds, 2))
                        a_engine = engine.describe()
                        settings = base.model_copy(update={"run_name": f"a{rep}"})
                        with OtherLoad() as others:
                            sample = run_a(task, settings, engine, reports, rep)
                else:
                    # B's server as Ollama keeps it: loaded and warmed up before the run
                    with ExtractinatorPattern(bundled_model()[0], threads=base.threads) as baseline:
                        load["B"].append(round(baseline.load_seconds, 2))
                        baseline.run(reports[:2], task.description, task.schema)  # not timed
                        with OtherLoad() as others:
                            sample = run_b(baseline, task, reports, rep)
                sample.other_cores = others.cores
                samples.append(sample)
                log(
                    f"  rep {rep + 1}/{reps} {variant}: {sample.docs_per_s:.2f} docs/s, "
                    f"{sample.tokens_per_s:.1f} tok/s, {sample.valid}/{sample.docs} valid, "
                    f"accuracy {sample.accuracy:.0%}; other processes used "
                    f"{sample.other_cores:.1f} cores"
                )
        settings_used = base.model_dump(
            mode="json",
            include={
                "parallel",
                "ctx_per_slot",
                "threads",
                "max_tokens",
                "temperature",
                "num_examples",
            },
        )
        load_median = {k: statistics.median(v) for k, v in load.items() if v}
        return ThroughputResult(
            len(reports),
            reps,
            samples,
            a_engine,
            describe_pattern(),
            load_median,
            settings_used,
            report_tokens,
        )


def llguidance_probe(reports: list[Report]) -> dict[str, Any]:
    """B once more, with xllamacpp's own converter instead of Ollama's GBNF (not B)."""
    from clinextract.schema import OutputSchema

    from .dataset import DESCRIPTION, SCHEMA

    with ExtractinatorPattern(bundled_model()[0], threads=Settings().threads) as baseline:
        result = baseline.run(
            reports, DESCRIPTION, OutputSchema.from_json_schema(SCHEMA), "llguidance"
        )
    return {
        "docs": result.docs,
        "docs_per_s": result.docs_per_s,
        "cut": result.cut_at_limit,
        "valid": result.valid,
    }
