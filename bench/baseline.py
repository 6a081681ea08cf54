"""B: llm_extractinator's calling pattern on a default Ollama, reproduced on xllamacpp.

What llm_extractinator does with its defaults (zero-shot, num_predict 512, temperature 0),
and what Ollama does with one loaded model on a CPU, rebuilt with the same model file and
the same llama.cpp build as A, so that only the calling pattern differs:

* its system prompt (the `data_extraction/system_prompt.txt` wording with the task's
  description) and the report as the human turn, rendered with Ollama's Gemma 3 chat
  template (the system message becomes the first user turn);
* the user's JSON Schema as Ollama's `format`, converted to GBNF the way Ollama does it
  (llama.cpp's converter, `gbnf.py`): whitespace allowed between tokens, no compact
  separators, numbers and strings not bounded beyond what the user wrote;
* one request at a time (LangChain's batch on Ollama's single CPU slot), a fresh prompt
  evaluation per request (`cache_prompt` off: the system prompt is not reused);
* llama.cpp's defaults otherwise (no `swa_full`), 4096 context, threads = cores.

xllamacpp's own `json_schema_to_grammar` would give an llguidance grammar with unbounded
whitespace instead; with it this model writes whitespace until the token limit on nearly
every report (`grammar="llguidance"` reproduces that; `bench/run.py --llguidance-b`).
That is not what Ollama does, so it is not B.

One attempt per report: llm_extractinator retries a failed parse up to three times,
which would only make B slower; counting one attempt keeps the comparison conservative.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinextract.schema import OutputSchema

from .dataset import Report
from .gbnf import schema_to_gbnf

SYSTEM_TEMPLATE = (
    "You are an expert information extraction system. Your goal is to analyze the provided "
    "text and accurately extract structured information according to the task given below.\n"
    "  \nTask: {description}\n\n"
    "Carefully review the text and extract only the information relevant to the task. "
    "Follow these principles:\n\n"
    "1. Be precise - Base your answer strictly on the content provided. Do not infer or "
    "fabricate data.\n"
    "2. Be complete - Capture all relevant instances or fields required by the task.\n"
    "3. Be structured - Output your results in a consistent, machine-readable format.\n"
    "4. Be definitive - When the answer is clearly stated, provide it confidently. If the "
    'required information is missing or unclear, return `null` or "N/A".\n\n'
    "Think step by step, and ensure all elements of the task are addressed.\n"
)
NUM_PREDICT = 512  # llm_extractinator's default --num_predict


def gemma_chat_prompt(system: str, user: str) -> str:
    """Ollama's template for Gemma 3: a system message is rendered as a user turn."""
    return (
        f"<start_of_turn>user\n{system}<end_of_turn>\n"
        f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"
    )


@dataclass
class BaselineResult:
    seconds: float
    docs: int
    completion_tokens: int
    prompt_tokens: int
    cut_at_limit: int  # answers that ran to num_predict
    valid: int  # answers that parse and validate against the user's schema
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds


class ExtractinatorPattern:
    """A llama.cpp server set up as Ollama would run it, called as llm_extractinator does."""

    def __init__(self, model_path: Path, threads: int, n_ctx: int = 4096):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = 1
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        started = time.perf_counter()
        self.server = xllamacpp.Server(params)
        self.load_seconds = time.perf_counter() - started

    def run(
        self,
        reports: list[Report],
        description: str,
        schema: OutputSchema,
        grammar_kind: str = "gbnf",
    ) -> BaselineResult:
        system = SYSTEM_TEMPLATE.format(description=description)
        if grammar_kind == "gbnf":
            grammar = schema_to_gbnf(schema.json_schema)  # as Ollama converts `format`
        else:
            import xllamacpp

            grammar = xllamacpp.json_schema_to_grammar(schema.json_schema)
        result = BaselineResult(0.0, len(reports), 0, 0, 0, 0)
        started = time.perf_counter()
        for report in reports:
            reply = self.server.handle_completions(
                {
                    "prompt": gemma_chat_prompt(system, report.text),
                    "max_tokens": NUM_PREDICT,
                    "temperature": 0.0,
                    "cache_prompt": False,
                    "grammar": grammar,
                }
            )
            choice = reply["choices"][0]
            usage = reply.get("usage", {})
            result.completion_tokens += usage.get("completion_tokens", 0)
            result.prompt_tokens += usage.get("prompt_tokens", 0)
            result.cut_at_limit += choice.get("finish_reason") == "length"
            try:
                result.predictions[report.id] = schema.validate_json(choice.get("text", ""))
                result.valid += 1
            except ValueError:
                pass
        result.seconds = time.perf_counter() - started
        return result

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's tokenizer (llama.cpp's /tokenize)."""
        import httpx

        reply = httpx.post(f"{self.server.listening_address}/tokenize", json={"content": text})
        return len(reply.raise_for_status().json()["tokens"])

    def close(self) -> None:
        self.server = None  # the model is freed when the server object goes

    def __enter__(self) -> ExtractinatorPattern:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_pattern() -> dict[str, Any]:
    return {
        "requests": "one at a time",
        "cache_prompt": False,
        "grammar": "GBNF from the user's schema as Ollama builds it (whitespace allowed)",
        "num_predict": NUM_PREDICT,
        "prompt": "llm_extractinator system prompt + report, Gemma 3 chat template",
        "swa_full": False,
        "n_parallel": 1,
    }


if __name__ == "__main__":  # show one prompt
    from .dataset import DESCRIPTION, make_reports

    print(
        gemma_chat_prompt(SYSTEM_TEMPLATE.format(description=DESCRIPTION), make_reports(1)[0].text)
    )
    print(json.dumps(describe_pattern(), indent=1))
