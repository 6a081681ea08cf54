"""Engine registry: one module per engine, imported only when chosen."""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..settings import Settings
from .base import Completion, Engine, Request, TokenLogprob

__all__ = ["Completion", "Engine", "Request", "TokenLogprob", "create_engine", "ENGINES"]

ENGINES = {
    "embedded": "clinextract.engines.embedded:EmbeddedEngine",
    "ollama": "clinextract.engines.ollama:OllamaEngine",
    "openai": "clinextract.engines.openai:OpenAIEngine",
}


def create_engine(settings: Settings) -> Engine:
    target = ENGINES.get(settings.engine)
    if target is None:
        raise ConfigError(
            f"engine {settings.engine!r} is not available (known: {', '.join(ENGINES)})"
        )
    module_name, class_name = target.split(":")
    engine_cls = getattr(importlib.import_module(module_name), class_name)
    return engine_cls(settings)
