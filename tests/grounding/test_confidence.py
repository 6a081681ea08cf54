"""Confidence from token log-probabilities and from agreement (units, hand-made tokens)."""

from __future__ import annotations

import math

from clinextract.engines.base import TokenLogprob
from clinextract.grounding.confidence import (
    admissible,
    agreement,
    logprob_confidence,
    value_spans,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "soort": {"enum": ["CT", "MRI"]},
        "nodus": {"type": "boolean"},
        "mm": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "lijst": {"type": "array", "items": {"type": "string"}},
    },
}


def tok(text, p, top=None, forced=False):
    return TokenLogprob(text, math.log(p), {k: math.log(v) for k, v in (top or {}).items()}, forced)


def test_value_spans_of_nested_answers():
    text = '{"a":"CT thorax","b":true,"c":null,"d":[],"e":[1,2.5],"f":{"g":"x"}}'
    spans = value_spans(text)
    assert {p: text[a:b] for p, (a, b) in spans.items()} == {
        "a": '"CT thorax"',
        "b": "true",
        "c": "null",
        "d": "[]",
        "e[0]": "1",
        "e[1]": "2.5",
        "f.g": '"x"',
    }
    assert value_spans("not json") == {}


def test_admissible_follows_the_field():
    assert admissible(SCHEMA["properties"]["soort"], '"C')
    assert not admissible(SCHEMA["properties"]["soort"], '"X')
    assert admissible(SCHEMA["properties"]["mm"], "nu") and admissible(
        SCHEMA["properties"]["mm"], "12"
    )
    assert admissible(SCHEMA["properties"]["mm"], "12,") and not admissible(
        SCHEMA["properties"]["mm"], "tr"
    )
    assert admissible(SCHEMA["properties"]["nodus"], "f") and not admissible(
        SCHEMA["properties"]["nodus"], "1"
    )


def test_probability_is_renormalised_over_what_the_field_allows():
    """At the enum's first token the model put 0.3 on "CT", 0.1 on "MRI" and 0.6 on text
    the enum does not allow: the value's confidence is 0.3 / (0.3 + 0.1) = 0.75."""
    tokens = [
        tok('{"soort":"', 0.9),
        tok("CT", 0.3, {"MRI": 0.1, "Echo": 0.6}),
        tok('","nodus":', 1.0, forced=True),
        tok("true", 0.8, {"false": 0.2}),
        tok(',"mm":', 0.95),
        tok("null", 0.5, {"1": 0.3, "de": 0.2}),
        tok(',"lijst":[]}', 0.9),
    ]
    answer = "".join(t.token for t in tokens)
    conf = logprob_confidence(answer, tokens, SCHEMA, ("soort", "nodus", "mm", "lijst"))
    assert math.isclose(conf["soort"], 0.75, abs_tol=1e-3)
    assert math.isclose(conf["nodus"], 0.8, abs_tol=1e-3)
    assert math.isclose(conf["mm"], 0.5 / 0.8, abs_tol=1e-3)
    assert set(conf) == {"soort", "nodus", "mm", "lijst"}
    assert all(0.0 <= v <= 1.0 for v in conf.values())
    only = logprob_confidence(answer, tokens, SCHEMA, ("nodus",))
    assert set(only) == {"nodus"}


def test_no_tokens_or_tokens_that_do_not_spell_the_answer_give_nothing():
    assert logprob_confidence('{"nodus":true}', None, SCHEMA, ("nodus",)) == {}
    assert logprob_confidence('{"nodus":true}', [tok("x", 0.5)], SCHEMA, ("nodus",)) == {}


def test_agreement_is_the_share_of_samples_with_the_same_value():
    chosen = {"soort": "CT", "lijst": ["a", "b"]}
    samples = [{"soort": "CT", "lijst": ["a"]}, {"soort": "MRI", "lijst": ["a", "b"]}, None]
    assert agreement(chosen, samples) == {"soort": 0.3333, "lijst[0]": 0.6667, "lijst[1]": 0.3333}
