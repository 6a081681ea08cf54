"""The engine registry and the settings that name engines agree."""

from __future__ import annotations

import importlib
import typing

from clinextract.engines import ENGINES, Engine
from clinextract.settings import EngineName


def test_every_engine_name_in_settings_is_registered_and_loads():
    assert set(typing.get_args(EngineName)) == set(ENGINES)
    for name, target in ENGINES.items():
        module, cls = target.split(":")
        engine_cls = getattr(importlib.import_module(module), cls)
        assert issubclass(engine_cls, Engine) and engine_cls.name == name
