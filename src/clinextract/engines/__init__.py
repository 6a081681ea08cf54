"""Engine registry: one module per engine, imported only when chosen.

An executor other than "local" wraps the chosen engine: `--executor ray` gives a pool of
Ray workers that each hold one engine of `settings.engine` (engines/ray_pool.py).
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..settings import Settings
from .base import Completion, Engine, Request, TokenLogprob

__all__ = [
    "Completion",
    "Engine",
    "Request",
    "TokenLogprob",
    "create_engine",
    "ENGINES",
    "EXECUTORS",
]

ENGINES = {
    "embedded": "clinextract.engines.embedded:EmbeddedEngine",
    "ollama": "clinextract.engines.ollama:OllamaEngine",
    "openai": "clinextract.engines.openai:OpenAIEngine",
}

# "local": the engine itself, in this process
EXECUTORS = {
    "local": None,
    "ray": "clinextract.engines.ray_pool:RayPoolEngine",
}


def create_engine(settings: Settings) -> Engine:
    executor = EXECUTORS.get(settings.executor, "?")
    if executor is not None:
        return _load(executor, f"executor {settings.executor!r}", EXECUTORS)(settings)
    return _load(ENGINES.get(settings.engine), f"engine {settings.engine!r}", ENGINES)(settings)


def _load(target: str | None, what: str, known: dict) -> type[Engine]:
    if target is None or ":" not in target:
        raise ConfigError(f"{what} is not available (known: {', '.join(known)})")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
