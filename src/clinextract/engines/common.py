"""What every engine needs the same way: the grammar text for a schema, a schema that
strict servers accept, and an answer's per-token log-probabilities read into
`TokenLogprob`s (llama.cpp, OpenAI-compatible servers and Ollama all spell them
`[{token, logprob, top_logprobs: [{token, logprob}]}]`); and, for the engines that run an
event loop of their own (the server engines, the Ray pool), how it stops."""

from __future__ import annotations

import asyncio
import copy
import json
from functools import cache
from typing import Any

from .base import TokenLogprob


def grammar_for(schema: dict[str, Any]) -> str:
    """llama.cpp's GBNF grammar for a JSON Schema (key order kept: it is the answer's)."""
    return _grammar(json.dumps(schema))


@cache
def _grammar(schema_json: str) -> str:
    import xllamacpp

    return xllamacpp.json_schema_to_grammar(json.loads(schema_json))


def portable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without llguidance's `x-guidance` key, which strict servers reject."""
    if "x-guidance" not in schema:
        return schema
    clean = copy.copy(schema)
    del clean["x-guidance"]
    return clean


def token_logprobs(items: Any) -> list[TokenLogprob] | None:
    """`[{token, logprob, top_logprobs}]` → TokenLogprobs; None when there are none."""
    if not isinstance(items, list) or not items:
        return None
    return [
        TokenLogprob(
            str(t.get("token", "")),
            float(t.get("logprob", 0.0)),
            {
                str(a["token"]): float(a["logprob"])
                for a in t.get("top_logprobs") or []
                if isinstance(a, dict) and "token" in a and "logprob" in a
            },
        )
        for t in items
        if isinstance(t, dict)
    ]


async def cancel_other_tasks() -> None:
    """Cancel every task on the running loop but the caller's, and wait for them."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
