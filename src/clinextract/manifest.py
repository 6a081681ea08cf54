"""The reproducibility manifest written beside every run's records: how the run was made
(at its start, status "running") and, when it ends, its counts, timings and status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .data import DataSource
from .engines import Engine
from .examples import FewShot
from .settings import Settings, stable_hash
from .task import Task
from .version import __version__


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build_manifest(
    task: Task,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    config: dict[str, Any],
    shots: FewShot,
) -> dict[str, Any]:
    """What `manifest.json` records at the start: enough to say how a run was made and to
    redo it. `config` is what the run's records are keyed by (its hash is the resume
    key); the prompt, schema and examples hashes are read from it."""
    return {
        "tool": "clinextract",
        "version": __version__,
        "created": now(),
        "status": "running",
        "task": {
            "name": task.name,
            "source": str(task.source) if task.source else None,
            "input_field": task.input_field,
            "data": str(source.path),
            "id_field": source.id_field,
        },
        "config_hash": stable_hash(config),
        "prompt_hash": config["prompt"],
        "schema_hash": config["schema"],
        "schema": task.schema.json_schema,  # a run folder says what its fields are
        "examples": {  # what each report was given: `num_examples` as used, from `source`
            "num_examples": shots.per_report,
            "source": shots.source,
            "requested": settings.num_examples,
            "available": len(shots.pool) if shots.pool is not None else 0,
            "path": str(task.example_path) if task.example_path else None,
            "hash": config["examples"],
            # per origin: the example file, in memory, or a run's reviews.jsonl (--examples-from)
            # with its run folder, how many records and which ids
            "sources": list(shots.pool.sources) if shots.pool is not None else [],
        },
        "engine": engine.describe(),
        "decoding": {
            "temperature": settings.temperature,
            "seed": settings.seed,
            "max_tokens": settings.max_tokens,
            "grammar": "JSON Schema (closed, bounded, compact)",
        },
        "output_config": config,
        "settings": settings.model_dump(mode="json", exclude={"api_key"}),
    }


def finish_manifest(
    manifest: dict[str, Any],
    status: str,
    counts: dict[str, int],
    timings: dict[str, float],
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The manifest at the end of a run (complete, interrupted): counts, timings and the
    quality warnings added."""
    return {
        **manifest,
        "status": status,
        "counts": counts,
        "timings": timings,
        "warnings": list(warnings or []),
        "finished": now(),
    }
