"""Fakes for unit tests only: an engine that answers instantly from a function.

Integration tests use the real embedded model; this fake exists so the pipeline's
bookkeeping (order, resume, retries, failures) can be tested in milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from clinextract.engines.base import Completion, Engine, Request


class FakeEngine(Engine):
    name = "fake"

    def __init__(
        self, answer: Callable[[Request], Completion], capacity: int = 4, threaded: bool = True
    ):
        self.answer = answer
        self.capacity = capacity
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(capacity) if threaded else None

    def submit(self, request: Request) -> Future[Completion]:
        with self._lock:
            self.requests.append(request)
        if self._pool:
            return self._pool.submit(self.answer, request)
        future: Future[Completion] = Future()
        try:
            future.set_result(self.answer(request))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller via the future
            future.set_exception(exc)
        return future

    def describe(self) -> dict[str, Any]:
        return {"engine": "fake", "model": "fake-model"}

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()


def report_of(request: Request) -> str:
    """The report text in the last user message."""
    return request.messages[-1]["content"].split("\n", 1)[1]


def ok(text: str, tokens: int = 5) -> Completion:
    return Completion(text, "stop", prompt_tokens=10, completion_tokens=tokens)
