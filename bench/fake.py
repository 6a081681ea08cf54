"""An instant fake engine (a unit-level fake, not a model) for the overhead benchmarks.

It answers every request at once with a valid answer, so a run measures only what the
pipeline itself costs per document: reading the row, building the prompt, the per-request
work the embedded engine does outside llama.cpp (rendering the completion prompt, keying
the grammar cache), validating the answer, appending the checkpoint and writing the final
file. Nothing here says anything about model speed.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from clinextract.engines.base import Completion, Engine, Request
from clinextract.messages import render_completion_prompt
from clinextract.settings import Settings

ANSWER = {
    "onderzoek": "CT",
    "regio": "thorax",
    "afwijking_aanwezig": True,
    "grootte_mm": 12,
    "controle_geadviseerd": False,
}


class InstantEngine(Engine):
    name = "instant-fake"

    def __init__(self, capacity: int = 8, answer: dict[str, Any] | None = None):
        self.capacity = capacity
        self.text = json.dumps(answer or ANSWER, separators=(",", ":"))
        self.requests = 0

    def submit(self, request: Request) -> Future[Completion]:
        prompt = render_completion_prompt(request.messages)  # as the embedded engine does
        json.dumps(request.schema, sort_keys=True)  # its grammar-cache key
        self.requests += 1
        future: Future[Completion] = Future()
        future.set_result(
            Completion(self.text, "stop", prompt_tokens=len(prompt) // 4, completion_tokens=30)
        )
        return future

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": "none (instant fake)"}


class SleepingEngine(InstantEngine):
    """A fake server of fixed latency: each of `capacity` slots answers a request after
    `latency` seconds of sleeping (no CPU), like a remote GPU server would. What a pool
    of these achieves measures only how well requests are spread, not any model."""

    name = "sleeping-fake"

    def __init__(self, latency: float, capacity: int = 4):
        super().__init__(capacity)
        self.latency = latency
        self._slots = ThreadPoolExecutor(capacity, thread_name_prefix="sleeping-fake")

    def submit(self, request: Request) -> Future[Completion]:
        answer = super().submit(request).result()
        return self._slots.submit(lambda: (time.sleep(self.latency), answer)[1])

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": "none (sleeping fake)", "latency_s": self.latency}

    def close(self) -> None:
        self._slots.shutdown(wait=False, cancel_futures=True)


def sleeping_engine(latency: float, settings: Settings) -> SleepingEngine:
    """A Ray worker's engine in the bench (`partial(sleeping_engine, latency)`)."""
    return SleepingEngine(latency, settings.parallel)
