"""The repair/retry policy, answer by answer (no engine needed)."""

from __future__ import annotations

from clinextract.engines.base import Completion, Request
from clinextract.schema import OutputSchema
from clinextract.validation import FAILURE, PARTIAL, SUCCESS, Outcome, RowAttempts, next_step

SCHEMA = OutputSchema.from_legacy(
    {
        "soort": {"type": "str", "literals": ["CT", "MRI"]},
        "mm": {"type": "int", "optional": True},
    }
)
REQUEST = Request(
    [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
    SCHEMA.grammar_schema,
    max_tokens=40,
)


def answer(text, finish="stop"):
    return Completion(text, finish, prompt_tokens=3, completion_tokens=2)


def test_valid_answer_is_a_success():
    out = next_step(SCHEMA, RowAttempts(REQUEST), answer('{"soort":"CT","mm":4}'))
    assert isinstance(out, Outcome)
    assert (out.status, out.fields, out.error) == (SUCCESS, {"soort": "CT", "mm": 4}, None)


def test_cut_answer_is_retried_once_with_twice_the_budget_then_fails():
    attempts = RowAttempts(REQUEST)
    retry = next_step(SCHEMA, attempts, answer('{"soort":"C', "length"))
    assert isinstance(retry, Request) and retry.max_tokens == 80
    assert retry.messages == REQUEST.messages
    out = next_step(SCHEMA, attempts, answer('{"soort":"CT","mm":1111', "length"))
    assert out.status == FAILURE
    assert out.fields == {"soort": None, "mm": None}
    assert "token limit (80 tokens)" in out.error
    assert out.raw_output == '{"soort":"CT","mm":1111'
    assert attempts.count == 2 and attempts.completion_tokens == 4


def test_invalid_answer_gets_one_repair_that_quotes_the_error():
    attempts = RowAttempts(REQUEST)
    repair = next_step(SCHEMA, attempts, answer('{"soort":"PET","mm":null}'))
    assert isinstance(repair, Request)
    assert repair.messages[:2] == REQUEST.messages
    assert repair.messages[2] == {"role": "assistant", "content": '{"soort":"PET","mm":null}'}
    assert "soort" in repair.messages[3]["content"] and "CT" in repair.messages[3]["content"]
    fixed = next_step(SCHEMA, attempts, answer('{"soort":"MRI","mm":null}'))
    assert fixed.status == SUCCESS and fixed.fields == {"soort": "MRI", "mm": None}


def test_one_repair_per_row_then_the_invalid_field_stays_null():
    attempts = RowAttempts(REQUEST)
    next_step(SCHEMA, attempts, answer("no json here"))
    out = next_step(SCHEMA, attempts, answer('{"soort":"PET"}'))
    assert out.status == PARTIAL  # mm (optional, not given) is a valid null
    assert out.fields == {"soort": None, "mm": None}
    assert list(out.field_errors) == ["soort"] and "after a repair" in out.error
    assert out.raw_output == '{"soort":"PET"}'
    assert len(attempts.errors) == 2


def test_still_not_json_after_repair_is_an_honest_failure():
    attempts = RowAttempts(REQUEST)
    next_step(SCHEMA, attempts, answer("no json here"))
    out = next_step(SCHEMA, attempts, answer("still none"))
    assert out.status == FAILURE and out.fields == {"soort": None, "mm": None}
    assert out.error.startswith("invalid answer after repair")
    assert out.raw_output == "still none"


def test_engine_error_fails_the_row_without_retry():
    out = next_step(SCHEMA, RowAttempts(REQUEST), Completion.failed("prompt too long"))
    assert out.status == FAILURE and out.error == "prompt too long"


def test_reasoning_is_stripped_and_kept():
    out = next_step(
        SCHEMA,
        RowAttempts(REQUEST),
        answer('<think>mm staat er niet</think>\n```json\n{"soort":"CT"}\n```'),
    )
    assert out.status == SUCCESS and out.fields == {"soort": "CT", "mm": None}
    assert out.reasoning == "mm staat er niet"
