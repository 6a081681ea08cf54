"""One row's record, as `records.jsonl` keeps it and the predictions file shows it.

A record (one checkpoint line):

    row, id, text_sha          where it came from (input position, identity, input hash)
    status                     success | partial | failure
    error                      why not a full success (None for success)
    field_errors               {path: reason} for each value that is null because it was
                               not valid (partial and failure rows)
    fields                     the schema's fields; invalid ones null
    confidence                 {path: probability the value is right} per leaf value
    evidence                   {path: [{text, start, end, match}]} per leaf value, offsets
                               into the original report text; match exact | fuzzy | none
    needs_review               a person should look (see grounding.needs_review)
    raw_output                 the model's answer(s), for audit
    attempts, prompt_tokens, completion_tokens, seconds, attempt_errors
    logprobs, reasoning, transient   when asked for / when there is one / passing failure

The predictions file item: every input column unchanged, then the fields, then
`PREDICTION_COLUMNS`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .data import Row
from .validation import Outcome, RowAttempts

# What the predictions file adds beside the fields (input columns may not use the names).
PREDICTION_COLUMNS = ("status", "error", "field_errors", "needs_review", "confidence", "evidence")


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def make_record(
    row: Row,
    outcome: Outcome,
    attempts: RowAttempts | None,
    grounded: dict[str, Any] | None = None,
    keep_logprobs: bool = False,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "row": row.index,
        "id": row.id,
        "text_sha": text_sha(row.text),
        "status": outcome.status,
        "error": outcome.error,
        "fields": outcome.fields,
    }
    if outcome.field_errors:
        record["field_errors"] = outcome.field_errors
    if grounded:
        record.update(grounded)
    record["raw_output"] = outcome.raw_output
    if outcome.reasoning:
        record["reasoning"] = outcome.reasoning
    if outcome.transient:
        record["transient"] = True
    if outcome.logprobs and keep_logprobs:
        record["logprobs"] = outcome.logprobs
    if attempts:
        record.update(
            attempts=attempts.count,
            prompt_tokens=attempts.prompt_tokens,
            completion_tokens=attempts.completion_tokens,
            seconds=round(attempts.seconds, 3),
        )
        if attempts.errors:
            record["attempt_errors"] = attempts.errors
    return record


def prediction_item(columns: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A predictions-file item: the input columns, the fields, and what the record says
    about them."""
    return {
        **columns,
        **record["fields"],
        "status": record["status"],
        "error": record["error"],
        "field_errors": record.get("field_errors") or {},
        "needs_review": record.get("needs_review", record["status"] != "success"),
        "confidence": record.get("confidence") or {},
        "evidence": record.get("evidence") or {},
    }
