"""Throughput: clinextract's defaults (A), A without fast-forward (A0), and
llm_extractinator's pattern (B).

All load the same GGUF with the same llama.cpp build, before timing; model load is
reported but not counted. The variants take turns over the repetitions (A,A0,B then
A0,B,A then B,A,A0 ...) so that drift in the machine's load falls on all of them.
Figures are medians over repetitions. A and A0 also give the answer agreement of
fast-forward: the same reports, the same settings, field by field.
"""

from __future__ import annotations

import itertools
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
from .dataset import FIELDS, Report, accuracy, write_task
from .machine import OtherLoad

VARIANTS = ("A", "A0", "B")
A_SETTINGS: dict[str, Any] = {}  # A = the defaults (fast-forward on)
A0_SETTINGS = {"fast_forward": False}  # A0 = A with --no-fast-forward


@dataclass
class Sample:
    variant: str  # "A", "A0" or "B"
    rep: int
    seconds: float
    docs: int
    completion_tokens: int  # decoded
    prompt_tokens: int
    valid: int
    cut_at_limit: int
    accuracy: float
    mean_latency: float  # seconds from a document's request to its answer, averaged
    other_cores: float = 0.0  # cores other processes kept busy meanwhile
    forced_tokens: int = 0  # appended without decoding (fast-forward)
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

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
    mean_report_tokens: float = 0.0

    def median(self, variant: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples if s.variant == variant)

    def ratio_of(self, top: str, bottom: str) -> float:
        return self.median(top, "docs_per_s") / self.median(bottom, "docs_per_s")

    @property
    def ratio(self) -> float:
        return self.ratio_of("A", "B")

    @property
    def ff_ratio(self) -> float:
        return self.ratio_of("A", "A0")

    def rep_ratios(self, top: str = "A", bottom: str = "B") -> list[float]:
        """top/bottom within each repetition (they ran back to back)."""
        by_rep: dict[int, dict[str, Sample]] = {}
        for s in self.samples:
            by_rep.setdefault(s.rep, {})[s.variant] = s
        return [
            pair[top].docs_per_s / pair[bottom].docs_per_s
            for _, pair in sorted(by_rep.items())
            if top in pair and bottom in pair
        ]

    def agreement(self) -> tuple[int, int, list[tuple[str, str, Any, Any]]]:
        """Fields identical between A and A0 in the same repetition, summed over
        repetitions: (identical, compared, the differences of the first repetition)."""
        reps = sorted({s.rep for s in self.samples})
        return self._compare([(("A", rep), ("A0", rep)) for rep in reps])

    def self_agreement(self, variant: str) -> tuple[int, int]:
        """Fields identical between one variant's consecutive repetitions: how far the
        engine agrees with itself, the same settings run again (llama.cpp is not
        batch-invariant, and which reports share a batch differs from run to run)."""
        reps = sorted({s.rep for s in self.samples if s.variant == variant})
        same, total, _ = self._compare(
            [((variant, a), (variant, b)) for a, b in itertools.pairwise(reps)]
        )
        return same, total

    def _compare(
        self, pairs: list[tuple[tuple[str, int], tuple[str, int]]]
    ) -> tuple[int, int, list[tuple[str, str, Any, Any]]]:
        runs = {(s.variant, s.rep): s.predictions for s in self.samples}
        same = total = 0
        first: list[tuple[str, str, Any, Any]] = []
        for left, right in pairs:
            if left not in runs or right not in runs:
                continue
            a, b = runs[left], runs[right]
            for doc in sorted(set(a) | set(b)):
                for name in FIELDS:
                    x = a.get(doc, {}).get(name, "<failed>")
                    y = b.get(doc, {}).get(name, "<failed>")
                    total += 1
                    same += x == y
                    if x != y and (left, right) == pairs[0]:
                        first.append((doc, name, x, y))
        return same, total, first


def run_a(
    task: Task,
    settings: Settings,
    engine: EmbeddedEngine,
    reports: list[Report],
    rep: int,
    variant: str = "A",
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
        variant,
        rep,
        seconds,
        summary.rows,
        summary.completion_tokens,
        summary.prompt_tokens,
        summary.successes,
        cut,
        accuracy(predictions, reports),
        latency,
        forced_tokens=engine.fast_forward_stats().get("forced tokens", 0),
        predictions={k: {f: v[f] for f in FIELDS} for k, v in predictions.items()},
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
        predictions=result.predictions,
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
            tokens = [probe.count_tokens(r.text) for r in reports]
        load: dict[str, list[float]] = {v: [] for v in VARIANTS}
        a_engine: dict[str, Any] = {}
        samples: list[Sample] = []
        # Only one model is loaded at a time: an idle second llama.cpp server in the same
        # process measurably slowed the other (A 0.77 -> 0.70 docs/s with B's server idle).
        for rep in range(reps):
            order = VARIANTS[rep % 3 :] + VARIANTS[: rep % 3]
            for variant in order:
                if variant != "B":
                    # a fresh engine per repetition, as `clinextract run` starts one;
                    # loading the model is not timed (nor is B's)
                    update = {"run_name": f"{variant}{rep}"}
                    update.update(A_SETTINGS if variant == "A" else A0_SETTINGS)
                    settings = base.model_copy(update=update)
                    with EmbeddedEngine(settings) as engine:
                        load[variant].append(round(engine.load_seconds, 2))
                        if variant == "A":
                            a_engine = engine.describe()
                        with OtherLoad() as others:
                            sample = run_a(task, settings, engine, reports, rep, variant)
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
                    f"{sample.tokens_per_s:.1f} tok/s, "
                    f"{sample.completion_tokens / sample.docs:.1f} decoded + "
                    f"{sample.forced_tokens / sample.docs:.1f} forced tok/doc, "
                    f"{sample.valid}/{sample.docs} valid, "
                    f"accuracy {sample.accuracy:.0%}; other processes used "
                    f"{sample.other_cores:.1f} cores"
                )
        settings_used = base.model_copy(update=A_SETTINGS).model_dump(
            mode="json",
            include={
                "parallel",
                "ctx_per_slot",
                "threads",
                "max_tokens",
                "temperature",
                "num_examples",
                "fast_forward",
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
            statistics.median(tokens),
            statistics.mean(tokens),
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
