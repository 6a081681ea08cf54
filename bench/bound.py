"""The machine's bound for the bench task, measured with the same llama.cpp build.

Two rates of this build on this machine, measured through xllamacpp itself:

* **prompt rate** (tokens/s): a long prompt (several bench reports, ~1,200 tokens) with
  `max_tokens` 1 and no cache, timed by llama.cpp (`timings.prompt_per_second`); the best
  of a few runs, as the machine's other load only ever slows it.
* **decode rate** at 1, 8 and 16 sequences (tokens/s, all sequences together): that many
  requests at once on a server with 16 slots, each with its short prompt already cached,
  each decoding 32 tokens without a grammar (`ignore_eos`); tokens decoded over the wall
  time of the batch; the best of a few runs.

The bound for the bench task: every report token evaluated once at the prompt rate, and
only the value tokens (what fast-forward decodes: the tokens the model must choose)
decoded at the batched rate of `--parallel` sequences. `share of bound` = A's docs/s over
that. It leaves out what any real run also pays (the prompt template around the report,
the forced text, sampling and the grammar, scheduling), so 100 % is out of reach.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import Report

DECODE_TOKENS = 32
SEQUENCES = (1, 8, 16)


@dataclass
class MachineBound:
    prompt_tokens: int  # tokens of the prompt used to time the prompt rate
    prompt_rate: float  # tokens/s, batched prompt evaluation
    decode_rates: dict[int, float] = field(default_factory=dict)  # sequences -> tokens/s

    def docs_per_s(self, report_tokens: float, value_tokens: float, parallel: int) -> float:
        """The bound: a document's report at the prompt rate, its value tokens decoded at
        the batched rate of `parallel` sequences (the nearest measured)."""
        nearest = min(self.decode_rates, key=lambda n: abs(n - parallel))
        seconds = report_tokens / self.prompt_rate + value_tokens / self.decode_rates[nearest]
        return 1.0 / seconds


def _server(model: Path, threads: int, slots: int) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_parallel = slots
    params.n_ctx = slots * 2048
    params.swa_full = True
    params.cache_prompt = True
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    return xllamacpp.Server(params)


def measure_bound(
    model: Path,
    threads: int,
    reports: list[Report],
    repeats: int = 3,
    log: Callable[[str], None] = print,
) -> MachineBound:
    server = _server(model, threads, max(SEQUENCES))
    try:
        text = "\n\n".join(r.text for r in reports[:4])
        rates, tokens = [], 0
        for n in range(repeats + 1):  # the first run warms up, and is not counted
            reply = server.handle_completions(
                {"prompt": f"{n}\n{text}", "max_tokens": 1, "cache_prompt": False}
            )
            tokens = reply["usage"]["prompt_tokens"]
            if n:
                rates.append(reply["timings"]["prompt_per_second"])
        bound = MachineBound(tokens, max(rates))
        log(f"  prompt: {bound.prompt_rate:.0f} tokens/s ({tokens}-token prompt)")
        for sequences in SEQUENCES:
            bound.decode_rates[sequences] = _decode_rate(server, reports, sequences, repeats)
            log(f"  decode, {sequences} sequences: {bound.decode_rates[sequences]:.0f} tokens/s")
        return bound
    finally:
        server = None  # the model is freed when the server object goes


def _decode_rate(server: Any, reports: list[Report], sequences: int, repeats: int) -> float:
    def request(slot: int, max_tokens: int) -> dict[str, Any]:
        return server.handle_completions(
            {
                "prompt": reports[slot % len(reports)].text[:400],
                "max_tokens": max_tokens,
                "temperature": 0.0,
                "cache_prompt": True,
                "ignore_eos": True,
                "id_slot": slot,
            }
        )

    best = 0.0
    with ThreadPoolExecutor(sequences) as pool:
        list(pool.map(lambda s: request(s, 1), range(sequences)))  # prompts into the cache
        for _ in range(repeats):
            started = time.perf_counter()
            replies = list(pool.map(lambda s: request(s, DECODE_TOKENS), range(sequences)))
            seconds = time.perf_counter() - started
            decoded = sum(r["usage"]["completion_tokens"] for r in replies)
            best = max(best, decoded / seconds)
    return best
