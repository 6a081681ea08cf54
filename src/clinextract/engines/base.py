"""The engine interface: one request in, one completion out, many in flight.

Engines accept requests with `submit` and return futures, so the pipeline can keep
every slot busy (continuous batching) and send follow-up requests (a repair, a retry
with a larger budget) as soon as an answer comes back.

A problem with one request is a `Completion` with `finish_reason == "error"`; a problem
with the engine itself (it cannot start, the server is gone) is an `EngineError` raised
from `submit` or from the future.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..messages import Message


@dataclass(frozen=True)
class Request:
    messages: list[Message]
    schema: dict[str, Any] | None  # JSON Schema the answer must follow (grammar)
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    top_logprobs: int = 0  # >0: return the top-k alternatives per output token


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)  # alternatives before the grammar
    # text the grammar forced (fast-forward): appended, not decoded, so it has no
    # alternatives; `token` is the whole forced run
    forced: bool = False


@dataclass
class Completion:
    text: str
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    # the request failed for a passing reason (server busy, timeout), not for its content:
    # such a row is computed again when the run resumes
    transient: bool = False
    reasoning: str | None = None  # a reasoning model's thinking, kept for audit
    logprobs: list[TokenLogprob] | None = None
    forced_tokens: int = 0  # tokens the grammar forced, appended without decoding

    @classmethod
    def failed(
        cls, error: str, started: float | None = None, transient: bool = False
    ) -> Completion:
        return cls(
            "",
            "error",
            error=error,
            transient=transient,
            seconds=time.perf_counter() - started if started else 0.0,
        )


class Engine(ABC):
    name: str = "engine"
    capacity: int = 1  # requests the engine works on at once (slots, connections)

    @abstractmethod
    def submit(self, request: Request) -> Future[Completion]:
        """Queue one request; the future resolves when its answer is complete."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Engine parameters for the manifest (model file, hash, slots, ...)."""

    @property
    def model_id(self) -> str:
        """What identifies the model's weights (a file hash, or a server's model name)."""
        return str(self.describe().get("model", ""))

    def prime(self, prefix: list[Message]) -> None:  # noqa: B027 - optional hook
        """Optional: prepare every slot for requests that all start with `prefix` (the
        static instruction), so it is evaluated once instead of once per slot."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connections."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
