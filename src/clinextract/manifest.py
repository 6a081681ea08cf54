"""The reproducibility manifest written beside every run's records."""

from __future__ import annotations

from typing import Any

from . import __version__
from .data import DataSource
from .engines import Engine
from .examples import ExamplePool
from .prompting import PromptBuilder
from .settings import Settings
from .store import RunStore
from .task import Task


def build_manifest(
    task: Task,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    prompts: PromptBuilder,
    pool: ExamplePool | None,
    store: RunStore,
    config: dict[str, Any],
    created: str,
) -> dict[str, Any]:
    """What `manifest.json` records: enough to say how a run was made and to redo it."""
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
        "config_hash": store.config_hash,
        "prompt_hash": prompts.hash,
        "schema_hash": task.schema.hash,
        "examples": {
            "path": str(task.example_path) if task.example_path else None,
            "hash": pool.hash if pool else None,
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
