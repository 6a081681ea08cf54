"""Probabilities for boolean answers from the answer tokens' log-probabilities.

Binary DRAGON targets are scored by ROC AUC, which rewards a ranking: a hard true/false
puts every case on one of two steps. The embedded engine returns, per output token, the
model's top alternatives *before* the grammar mask. At the token where a boolean value
starts, the mass the model put on spellings of `true` against those of `false` (" true",
"True", "tr" …) is its confidence: p = P(true) / (P(true) + P(false)).

Records keep the log-probabilities as `[[token, logprob, {alternative: logprob}], ...]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_BOOL_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)":(true|false)')


def _spelling(token: str) -> str:
    return token.strip().strip('"').lower()


def bool_probability(top: dict[str, float], chosen: bool) -> float:
    """P(true) from one token's alternatives. Spellings that begin `true` or `false`
    (or are a prefix of either, like "tr") count for that side. A side missing from
    the top-k gets at most the smallest listed probability."""
    mass = {True: 0.0, False: 0.0}
    for token, logprob in top.items():
        word = _spelling(token)
        if not word:
            continue
        for side, full in ((True, "true"), (False, "false")):
            if full.startswith(word) or word.startswith(full):
                mass[side] += math.exp(logprob)
    if mass[True] == 0.0 and mass[False] == 0.0:
        return 1.0 if chosen else 0.0
    floor = min((math.exp(lp) for lp in top.values()), default=0.0)
    for side in (True, False):
        if mass[side] == 0.0:
            mass[side] = floor * 0.5
    return mass[True] / (mass[True] + mass[False])


def bool_probabilities(text: str, logprobs: Sequence[Sequence[Any]] | None) -> dict[str, float]:
    """key → P(true) for every `"key":true|false` in a compact JSON answer.

    The token whose text covers the first character of the value carries the choice.
    Returns {} when the tokens do not spell the text (then hard labels are used)."""
    if not logprobs:
        return {}
    tokens = [str(t[0]) for t in logprobs]
    joined = "".join(tokens)
    offset = joined.find(text)
    if offset < 0:
        return {}
    bounds, pos = [], 0
    for tok in tokens:
        bounds.append((pos, pos + len(tok)))
        pos += len(tok)
    out: dict[str, float] = {}
    for match in _BOOL_VALUE.finditer(text):
        at = offset + match.start(2)
        index = next((i for i, (a, b) in enumerate(bounds) if a <= at < b), None)
        if index is None:
            continue
        top = logprobs[index][2] if len(logprobs[index]) > 2 else {}
        chosen = match.group(2) == "true"
        if bounds[index][0] != at:  # the value shares a token with what precedes it
            out[match.group(1)] = 1.0 if chosen else 0.0
            continue
        out[match.group(1)] = bool_probability(dict(top), chosen)
    return out
