"""Confidence: a probability that a value is right, read from the tokens that produced it.

**From token log-probabilities** (embedded engine, OpenAI-compatible servers, Ollama):
engines report, per output token, its log-probability and the top alternatives as the
model saw them *before* the grammar mask. For every leaf value we take the tokens that
spell the value in the answer (not the keys, quotes of keys, commas or braces, and not
text the grammar forced) and, at each token, renormalise the model's probability over
the alternatives that could continue *this field* validly: for an enum, only the
spellings of its options; for a boolean, `true`/`false`; for a nullable number, digits
or `null`; for free text, any text. The value's confidence is the product over its
tokens: the model's probability of this value among the values the schema allows
(structure-aware, as in CeRTS, J Biomed Inform 2025). A token whose alternatives were
not reported counts with its own probability.

**From agreement** (`--samples N`, for engines without log-probabilities, or by choice):
the share of N answers sampled at temperature > 0 that give the same value at the same
path (`agreement`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from ..engines.base import TokenLogprob
from ..values import join, leaves, top_field

_LITERAL = re.compile(r"-?[0-9.eE+\-]+|true|false|null")
_NUMBER_PREFIX = re.compile(r"-?(?:0|[1-9]\d*)?(?:\.\d*)?")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_END = set(",}] \n\t")


# --- where each value is in the answer --------------------------------------------------


def value_spans(text: str) -> dict[str, tuple[int, int]]:
    """path → (start, end) of every leaf value in a JSON object text (strings with their
    quotes); {} when the text is not a JSON object."""
    spans: dict[str, tuple[int, int]] = {}
    try:
        i = _skip(text, 0)
        if i >= len(text) or text[i] != "{":
            return {}
        _value(text, i, "", spans)
    except (IndexError, ValueError):
        return {}
    return spans


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \n\t\r":
        i += 1
    return i


def _string_end(text: str, i: int) -> int:
    """Index after the string starting at text[i] == '"'."""
    i += 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _value(text: str, i: int, path: str, spans: dict[str, tuple[int, int]]) -> int:
    i = _skip(text, i)
    ch = text[i]
    if ch == "{":
        i = _skip(text, i + 1)
        if text[i] == "}":
            spans[path] = (i - 1, i + 1)
            return i + 1
        while True:
            key_end = _string_end(text, i)
            key = json.loads(text[i:key_end])
            i = _skip(text, key_end)
            if text[i] != ":":
                raise ValueError("expected ':'")
            i = _skip(text, _value(text, i + 1, join(path, key), spans))
            if text[i] == "}":
                return i + 1
            i = _skip(text, i + 1)  # ','
    if ch == "[":
        start = i
        i = _skip(text, i + 1)
        if text[i] == "]":
            spans[path] = (start, i + 1)
            return i + 1
        n = 0
        while True:
            i = _skip(text, _value(text, i, join(path, n), spans))
            n += 1
            if text[i] == "]":
                return i + 1
            i += 1  # ','
    if ch == '"':
        end = _string_end(text, i)
    else:
        match = _LITERAL.match(text, i)
        if not match:
            raise ValueError(f"unexpected {ch!r}")
        end = match.end()
    spans[path] = (i, end)
    return end


# --- which continuations the field allows -------------------------------------------------


def field_node(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema node of a path, nullable variants kept (so `null` stays an option)."""
    node = schema
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        inner = _object_or_array(node, "items" if part.startswith("[") else "properties")
        node = (
            inner.get("items", {})
            if part.startswith("[")
            else inner.get("properties", {}).get(part, {})
        )
    return node


def _object_or_array(node: dict[str, Any], key: str) -> dict[str, Any]:
    for branch in [node, *node.get("anyOf", []), *node.get("oneOf", [])]:
        if key in branch:
            return branch
    return node


def admissible(node: dict[str, Any], text: str) -> bool:
    """Whether `text` (a value's text so far, possibly followed by what ends it) can
    begin a valid value of this field."""
    branches = node.get("anyOf") or node.get("oneOf") or [node]
    return any(_admits(b, text) for b in branches)


def _admits(node: dict[str, Any], text: str) -> bool:
    if "enum" in node or "const" in node:
        options = node.get("enum", [node.get("const")])
        return any(_prefix_or_done(json.dumps(o, ensure_ascii=False), text) for o in options)
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "boolean" and (_prefix_or_done("true", text) or _prefix_or_done("false", text)):
            return True
        if kind == "null" and _prefix_or_done("null", text):
            return True
        if kind in ("number", "integer"):
            core = text.rstrip("".join(_END))
            ok = _NUMBER_PREFIX.fullmatch(core) or (_NUMBER.fullmatch(core) and core != text)
            if ok and (kind == "number" or "." not in core):
                return True
        if kind == "string" and text.startswith('"'):
            return True
        if kind == "array" and text.startswith("["):
            return True
        if kind == "object" and text.startswith("{"):
            return True
        if kind is None and text:
            return True
    return False


def _prefix_or_done(option: str, text: str) -> bool:
    if option.startswith(text):
        return True
    return text.startswith(option) and all(c in _END for c in text[len(option) :])


# --- log-probabilities → confidence ------------------------------------------------------


def logprob_confidence(
    answer: str,
    tokens: Sequence[TokenLogprob] | None,
    schema: dict[str, Any],
    fields: Sequence[str],
) -> dict[str, float]:
    """path → confidence for every leaf of `fields` in `answer`, from its tokens; {} when
    the tokens do not spell the answer (then there is nothing to measure)."""
    if not tokens:
        return {}
    joined = "".join(t.token for t in tokens)
    offset = joined.find(answer)
    if offset < 0:
        return {}
    bounds, pos = [], 0
    for tok in tokens:
        bounds.append((pos, pos + len(tok.token)))
        pos += len(tok.token)
    out: dict[str, float] = {}
    for path, (a, b) in value_spans(answer).items():
        if top_field(path) not in fields:
            continue
        a, b = a + offset, b + offset
        node = field_node(schema, path)
        logp = 0.0
        for tok, (ts, te) in zip(tokens, bounds, strict=True):
            if te <= a or ts >= b or tok.forced:
                continue
            cut = max(0, a - ts)
            if cut and not tok.token[cut:].lstrip('"'):
                continue  # a key's end and the opening quote the grammar forces
            logp += _normalised_logprob(tok, joined[a:ts] if ts > a else "", cut, node)
        out[path] = round(math.exp(logp), 4)
    return out


def _normalised_logprob(tok: TokenLogprob, before: str, cut: int, node: dict[str, Any]) -> float:
    """log P(this token | the alternatives that continue the field validly). `before` is
    the value's text ahead of the token; `cut` how many of the token's characters lie
    before the value starts (a token like `":t` that merges a key's end and a value)."""
    alternatives = dict(tok.top)
    alternatives.setdefault(tok.token, tok.logprob)
    head = tok.token[:cut]
    total = 0.0
    for alt, logprob in alternatives.items():
        if alt.startswith(head) and admissible(node, before + alt[cut:]):
            total += math.exp(logprob)
    if total <= 0.0 or len(alternatives) == 1:
        return tok.logprob
    return min(0.0, tok.logprob - math.log(total))


# --- agreement over samples ---------------------------------------------------------------


def agreement(chosen: dict[str, Any], samples: Sequence[dict[str, Any] | None]) -> dict[str, float]:
    """path → the share of samples whose value at that path equals the chosen one (a
    sample that failed counts as disagreeing)."""

    wanted = {p: v for p, v, _ in leaves({}, chosen)}
    seen = [{p: v for p, v, _ in leaves({}, s)} if s else {} for s in samples]
    if not seen:
        return {}
    return {
        p: round(sum(s.get(p, _MISSING) == v for s in seen) / len(seen), 4)
        for p, v in wanted.items()
    }


_MISSING = object()
