"""Engines for the Ray workers in the unit tests (built in the worker's process, so they
live in a module the workers can import: the test cluster runs with the checkout on
PYTHONPATH)."""

from __future__ import annotations

import json
import os
import time

from clinextract.engines.base import Completion, Request
from clinextract.errors import ConfigError
from clinextract.settings import Settings
from tests.fakes import FakeEngine, report_of

LATENCY = 0.05  # seconds per request: long enough to kill a worker with requests in flight


def echo(request: Request) -> Completion:
    """A valid answer for the tests' schema that says which report and which worker."""
    time.sleep(LATENCY)
    report = report_of(request)
    answer = {"woord": report.split()[0], "pid": os.getpid()}
    return Completion(json.dumps(answer), "stop", prompt_tokens=len(report), completion_tokens=7)


def echo_engine(settings: Settings) -> FakeEngine:
    return FakeEngine(echo, capacity=settings.parallel)


def refusing_engine(settings: Settings) -> FakeEngine:
    raise ConfigError("model file not found: /nodes/lack/it.gguf")
