"""An instant fake engine (a unit-level fake, not a model) for the overhead benchmarks.

It answers every request at once with a valid answer, so a run measures only what the
pipeline itself costs per document: reading the row, building the prompt, the per-request
work the embedded engine does outside llama.cpp (rendering the completion prompt, keying
the grammar cache), validating the answer, appending the checkpoint and writing the final
file. Nothing here says anything about model speed.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from typing import Any

from clinextract.engines.base import Completion, Engine, Request
from clinextract.messages import render_completion_prompt

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
