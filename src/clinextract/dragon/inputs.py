"""What the model reads: inputs rendered as text, cut to the context, few-shot examples
that fit.

* `text` is used as it is. NER `text_parts` are joined with spaces, so the words the
  model copies map back onto the parts. Classification `text_parts` (premise and
  hypothesis; a sample numeral and a report) are shown one per line under their names.
* A report that does not fit the context is cut on the job's
  `recommended_truncation_side` ("left" drops the beginning, "right" the end); with
  few-shot examples a report may use at most half of the room, the examples the rest.
* Tokens are counted by the embedded engine's own tokenizer (llama.cpp's HTTP
  `/tokenize` at `engine.address`); for other engines they are estimated at
  `CHARS_PER_TOKEN` characters per token, a cautious figure for Dutch clinical text.
"""

from __future__ import annotations

from typing import Any

from ..examples import Example, ExamplePool
from ..settings import stable_hash
from .instructions import Instruction
from .jobs import Job

CHARS_PER_TOKEN = 2.5
PER_MESSAGE_TOKENS = 8  # the "Report:" and "JSON:" scaffolding around each text
ELLIPSIS = "…"


class TokenCounter:
    """Counts tokens with the engine's tokenizer when it has one, else estimates."""

    def __init__(self, engine: Any = None):
        address = getattr(engine, "address", None)
        self.url = None
        if isinstance(address, str) and address:
            self.url = (address if address.startswith("http") else f"http://{address}").rstrip("/")
        self._client = None
        self.exact = self.url is not None

    def __call__(self, text: str) -> int:
        if self.url is not None:
            try:
                import httpx

                if self._client is None:
                    self._client = httpx.Client(timeout=30)
                reply = self._client.post(f"{self.url}/tokenize", json={"content": text})
                reply.raise_for_status()
                return len(reply.json()["tokens"])
            except Exception:  # no tokenizer endpoint after all: estimate from now on
                self.url, self.exact = None, False
        return int(len(text) / CHARS_PER_TOKEN) + 1

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def render(job: Job, case: dict[str, Any], instruction: Instruction) -> str:
    value = case[job.input_name]
    if isinstance(value, str):
        return value
    parts = [str(p) for p in value]
    if job.label_name.endswith("named_entity_recognition_target"):
        return " ".join(parts)
    names = instruction.parts if len(instruction.parts) == len(parts) else ()
    names = names or tuple(f"Text {i + 1}" for i in range(len(parts)))
    return "\n".join(f"{name}: {part}" for name, part in zip(names, parts, strict=True))


def fit(
    job: Job, case: dict[str, Any], instruction: Instruction, budget: int, count: TokenCounter
) -> tuple[str, bool]:
    """The rendered input, cut on the job's truncation side to `budget` tokens.
    Returns (text, whether it was cut)."""
    text = render(job, case, instruction)
    if count(text) <= budget:
        return text, False
    value = case[job.input_name]
    if isinstance(value, str):
        return _cut_text(value, budget, job.truncation_side, count), True
    parts = [str(p) for p in value]
    if job.label_name.endswith("named_entity_recognition_target"):
        return _cut_words(parts, budget, job.truncation_side, count), True
    # classification parts: cut the longest part, keep the short ones (numeral, hypothesis)
    longest = max(range(len(parts)), key=lambda i: len(parts[i]))
    blank = [*parts[:longest], "", *parts[longest + 1 :]]
    others = count(render(job, {**case, job.input_name: blank}, instruction))
    parts[longest] = _cut_text(parts[longest], max(budget - others, 16), job.truncation_side, count)
    return render(job, {**case, job.input_name: parts}, instruction), True


def _cut_text(text: str, budget: int, side: str, count: TokenCounter) -> str:
    keep = len(text)
    for _ in range(6):
        n = count(text)
        if n <= budget:
            break
        keep = max(1, int(keep * budget / n * 0.97))
        text = _keep(text, keep, side)
    return text


def _keep(text: str, chars: int, side: str) -> str:
    if side == "left":  # drop the beginning
        cut = text[-chars:]
        space = cut.find(" ")
        return ELLIPSIS + (cut[space + 1 :] if 0 <= space < 40 else cut)
    cut = text[:chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) - 40 else cut) + ELLIPSIS


def _cut_words(parts: list[str], budget: int, side: str, count: TokenCounter) -> str:
    keep = len(parts)
    while keep > 1:
        chosen = parts[-keep:] if side == "left" else parts[:keep]
        n = count(" ".join(chosen))
        if n <= budget:
            break
        keep = max(1, min(keep - 1, int(keep * budget / n * 0.97)))
    return " ".join(parts[-keep:] if side == "left" else parts[:keep])


class BudgetPool(ExamplePool):
    """BM25 few-shot selection that keeps the prompt within the context: the most similar
    examples that fit beside the report, at most k. Counts what it gave.

    `balance`: take the most similar examples of each answer in turn (true, false, true,
    …), so the mix of labels shown does not vary from report to report; a small model
    otherwise tends to repeat the majority label of its examples, which ranks cases by
    their neighbours' labels instead of by the report."""

    def __init__(
        self, examples: list[Example], count: TokenCounter, budget: int, balance: bool = False
    ):
        super().__init__(examples)
        self.count = count
        self.budget = budget
        self.balance = balance
        self.hash = stable_hash([self.hash, budget, *(["balanced"] if balance else [])])
        self._cost: dict[int, int] = {}
        self.asked = 0
        self.given = 0

    def cost(self, example: Example) -> int:
        key = id(example)
        if key not in self._cost:
            self._cost[key] = (
                self.count(example.input) + self.count(example.output) + PER_MESSAGE_TOKENS
            )
        return self._cost[key]

    def select(self, query: str, k: int) -> list[Example]:
        if k <= 0:
            return []
        wanted = (4 if self.balance else 2) * k
        ranked = self._ranked(query, wanted)
        order = _interleave(ranked) if self.balance else ranked
        room = self.budget - self.count(query) - PER_MESSAGE_TOKENS
        chosen: list[Example] = []
        for example in order:
            if len(chosen) == k:
                break
            cost = self.cost(example)
            if cost <= room:
                chosen.append(example)
                room -= cost
        self.asked += k
        self.given += len(chosen)
        rank = {id(e): i for i, e in enumerate(ranked)}
        return sorted(chosen, key=lambda e: -rank[id(e)])  # least similar first

    def _ranked(self, query: str, n: int) -> list[Example]:
        """The n most similar, best first."""
        return super().select(query, n)[::-1]


def _interleave(ranked: list[Example]) -> list[Example]:
    """Round-robin over the answers, each answer's examples best first."""
    groups: dict[str, list[Example]] = {}
    for example in ranked:
        groups.setdefault(example.output, []).append(example)
    out = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[i] for g in groups.values() if i < len(g)]
    return out


def room_for_input(
    ctx_per_slot: int, max_tokens: int, system_tokens: int, num_examples: int
) -> tuple[int, int]:
    """(tokens for the report, tokens for report + examples) in one slot's context."""
    total = ctx_per_slot - max_tokens - system_tokens - 2 * PER_MESSAGE_TOKENS
    if total < 64:
        raise ValueError(
            f"--ctx-per-slot {ctx_per_slot} leaves no room for a report beside the "
            f"instructions ({system_tokens} tokens) and the answer ({max_tokens} tokens)"
        )
    report = total if num_examples == 0 else total // 2
    return report, total


def examples_for(
    job: Job, adapter: Any, instruction: Instruction, cap: int, count: TokenCounter
) -> list[Example]:
    """The job's labelled cases as few-shot examples (inputs cut to `cap` tokens; NER
    inputs are never cut, since their answers name words of the whole input)."""
    from ..examples import compact_json

    out = []
    ner = job.label_name.endswith("named_entity_recognition_target")
    for case in job.development:
        answer = adapter.answer(case)
        try:
            adapter.schema.model.model_validate(answer)
        except ValueError:
            continue  # a label the schema cannot express; never teach a malformed answer
        text = render(job, case, instruction) if ner else fit(job, case, instruction, cap, count)[0]
        if text.strip():
            out.append(Example(text, compact_json(answer)))
    return out
