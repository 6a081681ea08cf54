"""Few-shot example pools, their selection by BM25 (no vector database), and how many
examples each report gets (`FewShot`, where `num_examples` "auto" becomes a number).

Examples come from a file (CSV, JSON or JSONL with `input` and `output` per example;
`output` is a JSON object or a JSON string) or from Python objects (`{"input": text,
"output": dict | model instance}` or `(text, output)` pairs). Either way each example is
validated against the task schema, so the model never learns from a malformed answer.
A pool may also hold the reviewed records of earlier runs (`--examples-from`:
review.reviewed_examples builds those pools, `few_shot` joins them to the task's);
`sources` says where its examples came from (the manifest records it). A report is never
its own example: an example with the very same text is passed over.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .data import DataSource
from .errors import ConfigError
from .schema import OutputSchema
from .settings import AUTO, stable_hash
from .task import Task

# "auto": up to this many examples per report when the task has examples (measured in
# bench/EXAMPLES.md: accuracy and docs/s for 0, 1, 2, 3 and 5 examples).
AUTO_EXAMPLES = 3
IN_MEMORY = "in memory"


@dataclass(frozen=True)
class Example:
    input: str
    output: str  # compact JSON, as the model should answer


class ExamplePool:
    def __init__(
        self,
        examples: list[Example],
        source: str = IN_MEMORY,
        sources: list[dict[str, Any]] | None = None,
    ):
        if not examples:
            raise ConfigError(f"{'examples' if source == IN_MEMORY else source}: no examples")
        self.examples = examples
        self.source = source  # where the examples came from (a file, or "in memory")
        # per origin, in pool order: {"source", "count"} (+ "run", "reviews", "ids")
        self.sources = sources or [{"source": source, "count": len(examples)}]
        self.hash = stable_hash([(e.input, e.output) for e in examples])
        self._retriever = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.examples)

    @classmethod
    def load(cls, path: Path, schema: OutputSchema | None) -> ExamplePool:
        """The examples of a file, each validated against `schema`."""
        source = DataSource(path, "input")
        if "output" not in source.columns:
            raise ConfigError(f"{path}: examples need an 'output' column")
        pairs = ((row.text, row.columns["output"]) for row in source)
        return cls.validated(pairs, schema, str(path))

    @classmethod
    def from_items(cls, items: Iterable[Any], schema: OutputSchema | None) -> ExamplePool:
        """Examples given as Python objects: `{"input": text, "output": ...}` mappings or
        `(text, output)` pairs, the output a dict, a model instance or a JSON string."""
        pairs = []
        for n, item in enumerate(items, 1):
            if isinstance(item, Mapping) and "input" in item and "output" in item:
                pairs.append((item["input"], item["output"]))
            elif isinstance(item, tuple) and len(item) == 2:
                pairs.append(item)
            else:
                raise ConfigError(
                    f"example {n}: expected {{'input': text, 'output': ...}} or a "
                    f"(text, output) pair, got {type(item).__name__}"
                )
        return cls.validated(pairs, schema, IN_MEMORY)

    @classmethod
    def validated(
        cls, pairs: Iterable[tuple[Any, Any]], schema: OutputSchema | None, source: str
    ) -> ExamplePool:
        """The one check for every example, from a file or from memory: the input is
        text and the output is an answer the schema accepts."""
        where = "examples" if source == IN_MEMORY else source
        examples = []
        for n, (text, output) in enumerate(pairs, 1):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{where}: example {n} input must be a non-empty text")
            try:
                if isinstance(output, BaseModel):
                    output = output.model_dump(mode="json", by_alias=True)
                obj = json.loads(output) if isinstance(output, str) else output
                fields = (
                    schema.model.model_validate(obj).model_dump(mode="json", by_alias=True)
                    if schema
                    else obj
                )
            except ValueError as exc:
                raise ConfigError(
                    f"{where}: example {n} output does not match the schema: {_reason(exc)}"
                ) from exc
            examples.append(Example(text, compact_json(fields)))
        return cls(examples, source)

    @classmethod
    def joined(cls, pools: Sequence[ExamplePool]) -> ExamplePool:
        """One pool of several pools' examples (in order), their sources kept."""
        if len(pools) == 1:
            return pools[0]
        return cls(
            [e for p in pools for e in p.examples],
            " + ".join(p.source for p in pools),
            [s for p in pools for s in p.sources],
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


@dataclass(frozen=True)
class FewShot:
    """How many examples each report gets and from which pool: the `num_examples`
    setting ("auto" or a number) resolved into the number actually used."""

    pool: ExamplePool | None
    per_report: int
    requested: int | str = 0

    @classmethod
    def of(cls, pool: ExamplePool | None, requested: int | str) -> FewShot:
        """ "auto": up to AUTO_EXAMPLES when there is a pool, else none; a number: that
        many, at most the pool's size."""
        if pool is None or requested == 0:
            return cls(None, 0, requested)
        wanted = AUTO_EXAMPLES if requested == AUTO else int(requested)
        return cls(pool, min(wanted, len(pool)), requested)

    @property
    def source(self) -> str | None:
        return self.pool.source if self.pool is not None else None

    @property
    def hash(self) -> str | None:
        return self.pool.hash if self.pool is not None else None

    def select(self, text: str) -> list[Example]:
        return self.pool.select(text, self.per_report) if self.pool is not None else []

    def describe(self) -> str:
        """One line for summaries: '3 per report (auto) from examples/x.json'."""
        if self.pool is None:
            return "none" + (" (auto: the task has no examples)" if self.requested == AUTO else "")
        how = " (auto)" if self.requested == AUTO else ""
        return f"{self.per_report} per report{how} from {self.source} ({len(self.pool)} in all)"


def few_shot(
    task: Task,
    requested: int | str,
    pool: ExamplePool | None = None,
    reviewed: Sequence[ExamplePool] = (),
) -> FewShot:
    """The examples a run of `task` uses: `pool` (examples given in memory) or the task's
    Example_Path, joined by the `reviewed` pools (`--examples-from`: reviewed records of
    earlier runs), `requested` ("auto" or a number) resolved. The one place where the
    pool is built and "auto" becomes a number; the file is read (and validated) only
    when examples are asked for."""
    if requested == 0:
        if reviewed:
            raise ConfigError("--examples-from needs --num-examples K or auto (not 0)")
        return FewShot(None, 0, 0)
    if pool is None and task.example_path is not None:
        if not task.example_path.exists():
            raise ConfigError(
                f"examples file not found: {task.example_path} (the task's Example_Path "
                "under --example-dir; --num-examples 0 runs without examples)"
            )
        pool = ExamplePool.load(task.example_path, task.schema)
    if reviewed:
        pool = ExamplePool.joined([*([pool] if pool is not None else []), *reviewed])
    if pool is None and requested != AUTO:
        raise ConfigError(
            f"--num-examples {requested} needs an Example_Path in the task file "
            f"({task.source or task.name}), examples given in memory or --examples-from"
        )
    return FewShot.of(pool, requested)


def _reason(exc: ValueError) -> str:
    """What is wrong, in one line: 'nodus_mm: Input should be a valid number'."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        return f"{where}: {err['msg']}" if where else err["msg"]
    return str(exc).splitlines()[0]


def compact_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
