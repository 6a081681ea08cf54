"""Few-shot example pools and their selection by BM25 (no vector database).

An example file (CSV, JSON or JSONL) holds `input` and `output` per example; `output`
is a JSON object or a JSON string. Each example is validated against the task schema,
so the model never learns from a malformed answer. A pool may also hold the reviewed
records of earlier runs (`--examples-from`, review.reviewed_examples); `sources` says
where its examples came from (the manifest records it). A report is never its own
example: an example with the very same text is passed over.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import DataSource
from .errors import ConfigError
from .schema import OutputSchema
from .settings import stable_hash


@dataclass(frozen=True)
class Example:
    input: str
    output: str  # compact JSON, as the model should answer


class ExamplePool:
    def __init__(self, examples: list[Example], sources: list[dict[str, Any]] | None = None):
        if not examples:
            raise ConfigError("the example file holds no examples")
        self.examples = examples
        self.sources = sources or [{"count": len(examples)}]
        self.hash = stable_hash([(e.input, e.output) for e in examples])
        self._retriever = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, schema: OutputSchema | None) -> ExamplePool:
        source = DataSource(path, "input")
        if "output" not in source.columns:
            raise ConfigError(f"{path}: examples need an 'output' column")
        examples = []
        for row in source:
            out = row.columns["output"]
            try:
                obj = json.loads(out) if isinstance(out, str) else out
                fields = (
                    schema.model.model_validate(obj).model_dump(mode="json", by_alias=True)
                    if schema
                    else obj
                )
            except ValueError as exc:
                first = str(exc).splitlines()[0]
                raise ConfigError(
                    f"{path}: example {row.index + 1} output does not match the schema: {first}"
                ) from exc
            examples.append(Example(row.text, compact_json(fields)))
        return cls(examples, [{"path": str(path), "count": len(examples)}])

    @classmethod
    def joined(cls, pools: list[ExamplePool]) -> ExamplePool:
        """One pool of several pools' examples (in order), their sources kept."""
        return cls(
            [e for p in pools for e in p.examples], [s for p in pools for s in p.sources]
        )

    def select(self, query: str, k: int) -> list[Example]:
        """The k most similar examples, least similar first (the best sits next to the
        report), never one with the report's own text. Deterministic: ties keep file
        order."""
        k = min(k, len(self.examples))
        if k <= 0:
            return []
        import bm25s
        import numpy as np

        with self._lock:  # built once, fully indexed before anyone uses it
            if self._retriever is None:
                retriever = bm25s.BM25()
                retriever.index(
                    self._tokenize([e.input for e in self.examples]), show_progress=False
                )
                self._retriever = retriever
        known = [t for t in self._tokenize([query])[0] if t in self._retriever.vocab_dict]
        if known:
            scores = self._retriever.get_scores(known)
            # stable sort on -score keeps file order among equal scores
            order = [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]
        else:
            order = list(range(len(self.examples)))
        best = [i for i in order if self.examples[i].input != query][:k]
        return [self.examples[i] for i in best[::-1]]

    @staticmethod
    def _tokenize(texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(
            [t.lower() for t in texts],
            stopwords=None,
            stemmer=None,
            show_progress=False,
            return_ids=False,
        )


def compact_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
