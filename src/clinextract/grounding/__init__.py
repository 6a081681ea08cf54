"""Grounding: what makes each value checkable. For every leaf value of a record with
values, its evidence in the report (`evidence.py`) and a measured confidence
(`confidence.py`), and whether a person should look at the record (`needs_review`).

Sits above validation (it reads the accepted answers) and below the pipeline (which
calls `ground` for every finished row)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..schema import OutputSchema
from ..validation import FAILURE, SUCCESS, Outcome
from .confidence import agreement, logprob_confidence
from .evidence import Source, evidence

CONFIDENCE_TOP_K = 5  # alternatives per token asked from the engine for confidence


def ground(
    schema: OutputSchema,
    outcome: Outcome,
    text: str,
    review_below: float,
    samples: Sequence[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """`confidence`, `evidence` and `needs_review` for a finished row. With `samples`
    (other answers to the same prompt), confidence is their agreement; otherwise it is
    read from the accepted answers' token log-probabilities."""
    if outcome.status == FAILURE:
        return {"confidence": {}, "evidence": {}, "needs_review": True}
    leaves = schema.leaves(outcome.fields)
    source = Source(text)
    found = {path: evidence(source, path, value, node) for path, value, node in leaves}
    if samples is not None:
        confidence = agreement(outcome.fields, samples)
    else:
        confidence = {}
        for part in outcome.parts:
            measured = logprob_confidence(part.text, part.logprobs, schema.json_schema, part.fields)
            confidence.update(measured)
    for path in outcome.field_errors:  # a value that failed is null: no claim to rate
        confidence.pop(path, None)
    return {
        "confidence": {p: confidence[p] for p, _, _ in leaves if p in confidence},
        "evidence": found,
        "needs_review": needs_review(outcome, leaves, confidence, found, review_below),
    }


def needs_review(
    outcome: Outcome,
    leaves: Sequence[tuple[str, Any, dict[str, Any]]],
    confidence: dict[str, float],
    found: dict[str, list[dict[str, Any]]],
    review_below: float,
) -> bool:
    """A person should look when the row is not a full success, a value is less sure than
    `review_below`, or a value that claims something (not null, empty or false) has no
    evidence in the report."""
    if outcome.status != SUCCESS:
        return True
    for path, value, _ in leaves:
        if confidence.get(path, 1.0) < review_below:
            return True
        claims = value not in (None, False, [], "")
        if claims and all(e["match"] == "none" for e in found.get(path, [])):
            return True
    return False
