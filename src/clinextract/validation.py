"""Parse → validate field by field → repair what failed, or retry → an honest outcome.

`next_step` is the whole policy in one function. After each answer it either accepts it,
asks once more, or settles the row:

  * cut at the token limit: once more with twice the budget;
  * not a JSON object (or invalid as a whole): one repair that quotes the error;
  * some fields invalid (a run-away number, a bound, a type): every valid field is kept
    and one *targeted* repair asks for the failed fields alone, under a grammar for
    those fields only (a few output tokens instead of a whole answer);
  * then the row settles: `success` (every field valid), `partial` (the valid fields,
    the others null with their reason in `field_errors`), or `failure` (nothing usable:
    no answer, an engine error, an invalid answer after its repair). The raw answer is
    kept. Nothing is ever filled in that the model did not validly say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from .engines.base import Completion, Request, TokenLogprob
from .prompting import PromptBuilder
from .schema import OutputSchema
from .values import top_field

SUCCESS, PARTIAL, FAILURE = "success", "partial", "failure"
STATUSES = (SUCCESS, PARTIAL, FAILURE)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


@dataclass(frozen=True)
class AnswerPart:
    """An accepted answer (or a targeted repair's answer) and the fields it gave, kept so
    that confidence can be read from the very tokens that produced each value."""

    text: str  # the JSON object as the model wrote it
    fields: tuple[str, ...]  # the top-level fields this answer supplied
    logprobs: list[TokenLogprob] | None = None


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
    field_errors: dict[str, str] = field(default_factory=dict)  # path → why it is null
    parts: list[AnswerPart] = field(default_factory=list)


@dataclass
class RowAttempts:
    """What has been tried for one row so far."""

    request: Request  # the last request sent
    first: Request = field(init=False)  # the row's own request, before any follow-up
    length_retried: bool = False
    repaired: bool = False
    count: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    # after a first answer with invalid fields: what it validly gave, while the targeted
    # repair for the other fields is under way
    kept: Outcome | None = None
    repair_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.first = self.request


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
        if attempts.kept is not None:  # the targeted repair failed: keep the first answer
            kept = replace(attempts.kept, transient=completion.transient)
            return settle(kept, f"repair: {reason}")
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
        obj = json.loads(extract_json(answer))
        if not isinstance(obj, dict):
            raise ValueError(f"the answer is a JSON {type(obj).__name__}, not an object")
    except ValueError as exc:
        reason = short_error(exc)
        attempts.errors.append(reason)
        if not attempts.repaired:
            attempts.repaired = True
            messages = PromptBuilder.repair(request.messages, answer, reason)
            return retry(replace(request, messages=messages))
        return fail(f"invalid answer after repair: {reason}")

    if attempts.kept is not None:  # the targeted repair's answer
        return settle(merge_repair(schema, attempts, obj, answer, completion))

    part = AnswerPart(answer, schema.field_names, completion.logprobs)
    fields, field_errors = schema.salvage(obj)
    if not field_errors:
        try:  # the whole model too (a validator across fields)
            fields = schema.validate_json(json.dumps(obj))
        except ValidationError as exc:
            field_errors = {"answer": short_error(exc)}
    first = Outcome(
        SUCCESS,
        fields,
        None,
        completion.text,
        reasoning,
        compact_logprobs(completion),
        field_errors=field_errors,
        parts=[part],
    )
    if not field_errors:
        return first
    attempts.errors.append(summary(field_errors))
    failed = tuple(dict.fromkeys(top_field(p) for p in field_errors if p != "answer"))
    if attempts.repaired:  # one repair per row: this was it
        return settle(first, "after a repair")
    attempts.repaired = True
    if not failed or len(failed) == len(schema.field_names):  # nothing usable: whole repair
        messages = PromptBuilder.repair(request.messages, answer, summary(field_errors))
        return retry(replace(request, messages=messages))
    attempts.kept, attempts.repair_fields = first, failed
    messages = PromptBuilder.repair_fields(request.messages, answer, field_errors, failed)
    return retry(replace(request, messages=messages, schema=schema.grammar_subset(failed)))


def merge_repair(
    schema: OutputSchema,
    attempts: RowAttempts,
    obj: dict[str, Any],
    answer: str,
    completion: Completion,
) -> Outcome:
    """The first answer's valid fields plus the repaired ones that are now valid."""
    kept = attempts.kept
    assert kept is not None
    asked = attempts.repair_fields
    fields, errors = schema.salvage({**kept.fields, **{k: obj.get(k) for k in asked}})
    remaining = {p: r for p, r in kept.field_errors.items() if top_field(p) not in asked}
    for path, why in errors.items():  # only the asked fields can fail here
        again = kept.field_errors.get(path) == why
        remaining[path] = why + (" (again after a targeted repair)" if again else "")
    fixed = tuple(n for n in asked if not any(top_field(p) == n for p in errors))
    parts = [*kept.parts, AnswerPart(answer, fixed, completion.logprobs)] if fixed else kept.parts
    raw = f"{kept.raw_output}\n{completion.text}"
    return replace(kept, fields=fields, field_errors=remaining, parts=parts, raw_output=raw)


def settle(outcome: Outcome, note: str | None = None) -> Outcome:
    """success when nothing failed; partial when some fields are valid (the others null
    with their reasons); failure when no field is."""
    errors = outcome.field_errors
    if not errors:
        return replace(outcome, status=SUCCESS, error=None)
    failed = {top_field(p) for p in errors}
    status = FAILURE if "answer" in failed or failed >= set(outcome.fields) else PARTIAL
    error = summary(errors) + (f"; {note}" if note else "")
    return replace(outcome, status=status, error=error)


def summary(field_errors: dict[str, str], limit: int = 300) -> str:
    """One line: which fields failed and why."""
    n = len(field_errors)
    text = f"{n} field{'s' if n > 1 else ''} not valid: " + "; ".join(
        f"{path} ({why})" for path, why in field_errors.items()
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
