"""Defaults from measurement: A's throughput for a few engine settings on the same task.

A fresh engine per setting and repetition (slots and context are fixed when llama.cpp
loads the model; loading is not timed), as `clinextract run` starts one; the settings are
visited round-robin so that a change in the machine's load falls on all of them.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinextract.engines.embedded import EmbeddedEngine

from .dataset import Report
from .throughput import prepare, run_a


@dataclass
class SweepPoint:
    setting: dict[str, Any]
    docs_per_s: list[float]
    tokens_per_s: list[float]
    mean_seconds_per_doc: list[float]  # latency: a document's own time in the engine

    @property
    def median_docs_per_s(self) -> float:
        return statistics.median(self.docs_per_s)

    @property
    def median_tokens_per_s(self) -> float:
        return statistics.median(self.tokens_per_s)


def sweep(
    reports: list[Report],
    settings: list[dict[str, Any]],
    reps: int = 1,
    log: Callable[[str], None] = print,
) -> list[SweepPoint]:
    points = [SweepPoint(s, [], [], []) for s in settings]
    with tempfile.TemporaryDirectory(prefix="clinextract-sweep-") as tmp:
        task, base = prepare(Path(tmp), reports)
        for rep in range(reps):
            for n, point in enumerate(points):
                cfg = base.model_copy(update={**point.setting, "run_name": f"s{n}r{rep}"})
                with EmbeddedEngine(cfg) as engine:  # fresh, as `clinextract run`
                    sample = run_a(task, cfg, engine, reports, rep)
                point.docs_per_s.append(sample.docs_per_s)
                point.tokens_per_s.append(sample.tokens_per_s)
                point.mean_seconds_per_doc.append(sample.mean_latency)
                log(
                    f"  {point.setting}: {sample.docs_per_s:.2f} docs/s, "
                    f"{sample.tokens_per_s:.1f} tok/s, {sample.mean_latency:.1f} s per document"
                )
    return points
