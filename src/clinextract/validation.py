"""Parse → validate → repair or retry → an honest outcome.

`next_step` is the whole policy in one function. After each answer it either accepts
the validated fields, asks once more (a larger budget when the answer was cut at the
token limit; a repair that quotes the validation error when it was invalid), or gives
up: every schema field null, `status: "failure"`, the reason in `error` and the raw
answer kept. Nothing is ever filled in that the model did not validly say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from .engines.base import Completion, Request
from .prompting import PromptBuilder
from .schema import OutputSchema

SUCCESS, FAILURE = "success", "failure"
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


@dataclass
class Outcome:
    status: str
    fields: dict[str, Any]
    error: str | None = None
    raw_output: str | None = None
    reasoning: str | None = None
    # [[token, logprob, {alternative: logprob}], ...] of the accepted answer, when asked for
    logprobs: list[list[Any]] | None = None
    transient: bool = False  # failed for a passing reason: retried when the run resumes


@dataclass
class RowAttempts:
    """What has been tried for one row so far."""

    request: Request  # the last request sent
    length_retried: bool = False
    repaired: bool = False
    count: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def next_step(
    schema: OutputSchema, attempts: RowAttempts, completion: Completion
) -> Request | Outcome:
    """Decide what follows an answer: another request, or the row's final outcome."""
    attempts.prompt_tokens += completion.prompt_tokens
    attempts.completion_tokens += completion.completion_tokens
    attempts.seconds += completion.seconds
    request = attempts.request

    def retry(new_request: Request) -> Request:
        attempts.request, attempts.count = new_request, attempts.count + 1
        return new_request

    def fail(reason: str) -> Outcome:
        return Outcome(
            FAILURE,
            schema.null_fields(),
            reason,
            completion.text or None,
            completion.reasoning,
            transient=completion.transient,
        )

    if completion.finish_reason == "error":
        return fail(completion.error or "engine error")

    if completion.finish_reason == "length":
        attempts.errors.append(f"cut at {request.max_tokens} tokens")
        if not attempts.length_retried:
            attempts.length_retried = True
            return retry(replace(request, max_tokens=request.max_tokens * 2))
        return fail(f"answer cut at the token limit ({request.max_tokens} tokens)")

    answer, thinking = split_reasoning(completion.text)
    reasoning = completion.reasoning or thinking
    try:
        fields = schema.validate_json(extract_json(answer))
        if problem := schema.runaway(fields):
            raise ValueError(problem)
    except (ValidationError, ValueError) as exc:
        reason = short_error(exc)
        attempts.errors.append(reason)
        if not attempts.repaired:
            attempts.repaired = True
            return retry(
                replace(request, messages=PromptBuilder.repair(request.messages, answer, reason))
            )
        return fail(f"invalid answer after repair: {reason}")
    return Outcome(SUCCESS, fields, None, completion.text, reasoning, compact_logprobs(completion))


def compact_logprobs(completion: Completion) -> list[list[Any]] | None:
    """The answer's per-token log-probabilities as plain JSON (rounded)."""
    if not completion.logprobs:
        return None
    return [
        [t.token, round(t.logprob, 4), {k: round(v, 4) for k, v in t.top.items()}]
        for t in completion.logprobs
    ]


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Remove <think>…</think> blocks; return (answer, thinking)."""
    thoughts = _THINK.findall(text)
    if not thoughts:
        return text, None
    return _THINK.sub("", text).strip(), "\n".join(t.strip() for t in thoughts)


def extract_json(text: str) -> str:
    """The JSON object in an answer; tolerates code fences and chatter around it."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped
    start, end = stripped.find("{"), stripped.rfind("}")
    if start == -1 or end < start:
        raise ValueError("no JSON object in the answer")
    return stripped[start : end + 1]


def short_error(exc: Exception) -> str:
    """One line a model (and a person) can act on."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "answer"
            if err["type"] == "json_invalid":
                parts.append(f"not valid JSON ({err['msg']})")
            else:
                parts.append(f"{loc}: {err['msg']}")
        more = len(exc.errors()) - 5
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
