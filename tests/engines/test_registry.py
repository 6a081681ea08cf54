"""The engine registry and the settings that name engines agree."""

from __future__ import annotations

import importlib
import typing

from clinextract.engines import ENGINES, EXECUTORS, Engine
from clinextract.settings import EngineName, ExecutorName


def test_every_engine_name_in_settings_is_registered_and_loads():
    assert set(typing.get_args(EngineName)) == set(ENGINES)
    for name, target in ENGINES.items():
        module, cls = target.split(":")
        engine_cls = getattr(importlib.import_module(module), cls)
        assert issubclass(engine_cls, Engine) and engine_cls.name == name


def test_every_executor_name_in_settings_is_registered_and_loads():
    assert set(typing.get_args(ExecutorName)) == set(EXECUTORS)
    assert EXECUTORS["local"] is None  # the engine itself
    for name, target in EXECUTORS.items():
        if target is not None:  # importing the module does not import ray itself
            module, cls = target.split(":")
            engine_cls = getattr(importlib.import_module(module), cls)
            assert issubclass(engine_cls, Engine) and engine_cls.name == name
