"""Fast-forward with the real bundled model, on a small nested schema: the answers of
decoding every token, for a fraction of the decoded tokens.

One slot per engine, so that llama.cpp's batches have the same shapes on every run (see
docs/performance.md: with several slots, near-ties can tip either way).
"""

from __future__ import annotations

import json

import pytest

from clinextract.engines.base import Request
from clinextract.engines.embedded import EmbeddedEngine
from clinextract.prompting import PromptBuilder
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.values import leaves

pytestmark = pytest.mark.model

SCHEMA = OutputSchema.from_json_schema(
    {
        "type": "object",
        "properties": {
            "onderzoek": {"enum": ["CT", "MRI", "echografie"]},
            "laesies": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "orgaan": {"type": "string", "maxLength": 30},
                        "mm": {
                            "anyOf": [
                                {"type": "number", "minimum": 0, "maximum": 500},
                                {"type": "null"},
                            ]
                        },
                    },
                    "required": ["orgaan", "mm"],
                },
            },
            "maligne": {"type": "boolean"},
        },
        "required": ["onderzoek", "laesies", "maligne"],
    }
)
EXAMPLE = (
    "CT abdomen: cyste in de lever van 12 mm en een laesie in de milt.",
    '{"onderzoek":"CT","laesies":[{"orgaan":"lever","mm":12},{"orgaan":"milt","mm":null}],'
    '"maligne":false}',
)
REPORTS = [
    "MRI: nierlaesie links van 35 mm, verdacht voor maligniteit.",
    "Echografie van de bovenbuik: geen afwijkingen.",
    "CT thorax: longnodus rechts van 8 mm en een cyste in de lever van 20 mm.",
]


def leaf_values(fields: dict) -> dict:
    return {path: value for path, value, _ in leaves(SCHEMA.json_schema, fields)}


def answers(fast_forward: bool, top_logprobs: int = 0):
    prompts = PromptBuilder("Beschrijf het onderzoek en elke laesie.", SCHEMA)
    settings = Settings(parallel=1, fast_forward=fast_forward)
    with EmbeddedEngine(settings) as engine:
        out = []
        for report in REPORTS:
            messages = prompts.messages(report)
            messages[1:1] = [  # one worked example, as the few-shot pool would give
                {"role": "user", "content": prompts.user(EXAMPLE[0])},
                {"role": "assistant", "content": EXAMPLE[1]},
            ]
            request = Request(messages, SCHEMA.grammar_schema, 200, top_logprobs=top_logprobs)
            out.append(engine.submit(request).result())
        return out, engine.fast_forward_stats()


def test_fast_forward_answers_as_decoding_every_token_with_few_decoded_tokens() -> None:
    whole, none = answers(fast_forward=False)
    fast, stats = answers(fast_forward=True)
    assert none == {} and stats["fast-forwarded"] == len(REPORTS)
    # every request after an answer's first found the answer so far in the slot's cache:
    # it evaluated only the decoded token and the forced text after it (not the prompt)
    appended = stats["forced tokens"] + stats["decoded tokens"]
    assert stats["answer tokens evaluated after the first request"] <= appended
    same = total = 0
    for w, f in zip(whole, fast, strict=True):
        assert f.finish_reason == w.finish_reason == "stop"
        fields = SCHEMA.validate_json(f.text)
        # the form the whole-answer grammar gives: compact, keys in schema order
        assert json.dumps(json.loads(f.text), ensure_ascii=False, separators=(",", ":")) == f.text
        assert list(fields) == ["onderzoek", "laesies", "maligne"]
        a, b = (leaf_values(json.loads(x.text)) for x in (f, w))
        same += sum(a.get(path) == value for path, value in b.items())
        total += max(len(a), len(b))
        assert f.forced_tokens > 0 and f.completion_tokens < w.completion_tokens / 2
        assert f.prompt_tokens == w.prompt_tokens
    # How many values are the same is a measurement, not a promise (90-97 % on the bench
    # and the bundled example, docs/performance.md): llama.cpp is not batch-invariant
    assert 0 < same <= total


def test_log_probabilities_still_spell_the_answer() -> None:
    [first, *_], _ = answers(fast_forward=True, top_logprobs=2)
    assert first.logprobs is not None
    assert "".join(t.token for t in first.logprobs) == first.text
    decoded = [t for t in first.logprobs if not t.forced]
    assert len(decoded) == first.completion_tokens
    assert all(t.top for t in decoded) and all(not t.top for t in first.logprobs if t.forced)
