"""The reproducibility manifest written beside every run's records."""

from __future__ import annotations

from typing import Any

from . import __version__
from .data import DataSource
from .engines import Engine
from .settings import Settings, stable_hash
from .task import Task


def build_manifest(
    task: Task,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    config: dict[str, Any],
    created: str,
) -> dict[str, Any]:
    """What `manifest.json` records: enough to say how a run was made and to redo it.
    `config` is what the run's records are keyed by (its hash is the resume key); the
    prompt, schema and examples hashes are read from it."""
    return {
        "tool": "clinextract",
        "version": __version__,
        "created": created,
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
        "examples": {
            "path": str(task.example_path) if task.example_path else None,
            "hash": config["examples"],
            "num_examples": settings.num_examples,
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
