"""The one typed settings object shared by the CLI, the Python API, the Studio and DRAGON.

Each field carries its own help text and its command-line spellings (``flags``), so the
CLI is generated from this class instead of repeating it option by option.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .errors import ConfigError

EngineName = Literal["embedded", "ollama", "openai"]  # = engines.ENGINES (a test checks)
ExecutorName = Literal["local", "ray"]  # = engines.EXECUTORS (a test checks)
AUTO = "auto"  # num_examples: the task's examples decide (examples.few_shot)


def _flags(*names: str) -> dict[str, Any]:
    return {"flags": list(names)}


def model_file(model: str | Path) -> Path:
    """A local model file the embedded engine can load (a .gguf), or ConfigError."""
    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"model file not found: {model}")
    if path.suffix.lower() != ".gguf":
        raise ConfigError(f"the embedded engine needs a .gguf file: {model}")
    return path


def default_parallel() -> int:
    """Slots for the embedded engine: 8 measured best on 2 cores (bench/RESULTS.md)."""
    return 8


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseModel):
    """Everything a run can be told. Defaults are what `clinextract run` uses."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- where things are -------------------------------------------------------------
    task_dir: Path = Field(
        Path("tasks"),
        description="Folder with Task*.json files.",
        json_schema_extra=_flags("--task-dir", "--task_dir"),
    )
    data_dir: Path = Field(
        Path("data"),
        description="Base folder for a task's Data_Path.",
        json_schema_extra=_flags("--data-dir", "--data_dir"),
    )
    example_dir: Path = Field(
        Path("examples"),
        description="Base folder for a task's Example_Path.",
        json_schema_extra=_flags("--example-dir", "--example_dir"),
    )
    output_dir: Path = Field(
        Path("output"),
        description="Where run folders are written.",
        json_schema_extra=_flags("--output-dir", "--output_dir"),
    )
    run_name: str = Field(
        "run",
        description="Name of the run folder under --output-dir.",
        json_schema_extra=_flags("--run-name", "--run_name"),
    )
    id_field: str | None = Field(
        None,
        description="Column that identifies a row "
        "(default: the task's Id_Field, else 'uid' or 'id', "
        "else the row number).",
        json_schema_extra=_flags("--id-field", "--id_field"),
    )

    # --- engine ----------------------------------------------------------------------
    engine: EngineName = Field(
        "embedded",
        description="embedded (llama.cpp in-process), "
        "ollama, or openai (any OpenAI-compatible server).",
        json_schema_extra=_flags("--engine"),
    )
    model: str | None = Field(
        None,
        description="Embedded: path to a .gguf file (default: "
        "the bundled Gemma 3 270M). Servers: the model name.",
        json_schema_extra=_flags("--model", "--model-name", "--model_name"),
    )
    base_url: list[str] = Field(
        default_factory=list,
        description="Server URL; repeat to share the load round-robin over several servers.",
        json_schema_extra=_flags("--base-url", "--base_url"),
    )
    api_key: SecretStr | None = Field(
        None,
        description="API key for the server (default: $CLINEXTRACT_API_KEY, then $OPENAI_API_KEY).",
        json_schema_extra=_flags("--api-key", "--api_key"),
    )
    parallel: int = Field(
        default_factory=default_parallel,
        ge=1,
        le=64,
        description="Embedded engine: concurrent slots (continuous batching).",
        json_schema_extra=_flags("--parallel"),
    )
    ctx_per_slot: int = Field(
        4096,
        ge=256,
        description="Embedded engine: context tokens per slot (prompt + output).",
        json_schema_extra=_flags("--ctx-per-slot", "--num_ctx", "--num-ctx"),
    )
    threads: int = Field(
        default_factory=default_threads,
        ge=1,
        description="Embedded engine: CPU threads.",
        json_schema_extra=_flags("--threads"),
    )
    fast_forward: bool = Field(
        # on: 1.2-1.3x the docs/s of --no-fast-forward on the bench, as often right, and
        # its answers differ from it as much as two runs of either differ from each other
        # (batch-dependent arithmetic at near-ties; docs/performance.md)
        True,
        description="Embedded engine: decode only the tokens the model chooses and append "
        "the text the schema forces (keys, quotes, brackets) as prompt tokens.",
        json_schema_extra=_flags("--fast-forward/--no-fast-forward"),
    )
    concurrency: int = Field(
        8,
        ge=1,
        description="Server engines: concurrent requests.",
        json_schema_extra=_flags("--concurrency"),
    )
    timeout: float = Field(
        300.0,
        gt=0,
        description="Server engines: seconds per request.",
        json_schema_extra=_flags("--timeout"),
    )
    max_failures: int = Field(
        5,
        ge=1,
        description="Server engines: consecutive failed requests after which the run stops.",
        json_schema_extra=_flags("--max-failures"),
    )
    reasoning: bool | None = Field(
        None,
        description="Reasoning model: give it a thinking "
        "budget and strip <think> blocks (default: auto-detect).",
        json_schema_extra=_flags("--reasoning/--no-reasoning"),
    )
    reasoning_tokens: int = Field(
        2048,
        ge=0,
        description="Token budget for thinking.",
        json_schema_extra=_flags("--reasoning-tokens"),
    )
    pull: bool = Field(
        False,
        description="Ollama: pull the model if it is missing.",
        json_schema_extra=_flags("--pull"),
    )
    translate: bool = Field(
        False,
        description="Translate reports to English first "
        "(parity with llm_extractinator; usually lowers scores).",
        json_schema_extra=_flags("--translate"),
    )

    # --- decoding --------------------------------------------------------------------
    temperature: float = Field(
        0.0,
        ge=0,
        le=2,
        description="Sampling temperature (0 = greedy).",
        json_schema_extra=_flags("--temperature"),
    )
    seed: int = Field(42, description="Sampling seed.", json_schema_extra=_flags("--seed"))
    max_tokens: int = Field(
        512,
        ge=1,
        description="Output token budget per answer; a "
        "truncated answer is retried once with twice the budget.",
        json_schema_extra=_flags("--max-tokens", "--num_predict", "--num-predict"),
    )
    num_examples: int | Literal["auto"] = Field(
        AUTO,
        description="Few-shot examples per report, the most similar ones by BM25 from the "
        "task's Example_Path: auto = up to 3 when the task has examples, else none; "
        "0 = none.",
        json_schema_extra=_flags("--num-examples", "--num_examples"),
    )

    # --- run control -----------------------------------------------------------------
    n_runs: int = Field(
        1,
        ge=1,
        description="Repeat the whole run K times (run0..runK-1).",
        json_schema_extra=_flags("--n-runs", "--n_runs"),
    )
    overwrite: bool = Field(
        False,
        description="Start over instead of resuming.",
        json_schema_extra=_flags("--overwrite"),
    )
    verbose: bool = Field(
        False,
        description="Show engine logs and per-row events.",
        json_schema_extra=_flags("--verbose", "-v"),
    )
    log_text: bool = Field(
        False,
        description="Allow report text in logs (off by default).",
        json_schema_extra=_flags("--log-text"),
    )

    # --- grounding: evidence, confidence, review --------------------------------------
    evidence: Literal["on", "off"] = Field(
        "on",
        description="Evidence spans, a confidence per value and needs_review in every "
        "record (off: the values alone).",
        json_schema_extra=_flags("--evidence"),
    )
    samples: int = Field(
        0,
        ge=0,
        le=20,
        description="Confidence from the agreement of N answers sampled at temperature "
        "0.7 instead of the answer's token probabilities (for engines that give none; N "
        "more requests per row).",
        json_schema_extra=_flags("--samples"),
    )
    review_below: float = Field(
        0.8,
        ge=0,
        le=1,
        description="needs_review when a value's confidence is below this.",
        json_schema_extra=_flags("--review-below"),
    )

    # --- scale-out: the same run over a Ray cluster (docs/scale.md) ---------------------
    # None of these change what the model answers (not in output_config): a run started
    # locally resumes on Ray and the other way round.
    executor: ExecutorName = Field(
        "local",
        description="local (this process) or ray: the same run over a pool of Ray "
        "workers, each holding one engine (the 'ray' extra).",
        json_schema_extra=_flags("--executor"),
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join: host:port, or 'auto' for the one started on "
        "this machine with `ray start` (default: $RAY_ADDRESS, else a private Ray on "
        "this machine for this run, listening on 127.0.0.1 only).",
        json_schema_extra=_flags("--ray-address"),
    )
    workers: int = Field(
        2,
        ge=1,
        description="Ray workers (actors), each with its own engine: --parallel slots "
        "for the embedded engine, --concurrency requests for a server.",
        json_schema_extra=_flags("--workers"),
    )
    worker_cpus: int = Field(
        1,
        ge=1,
        description="CPUs each Ray worker reserves; the embedded engine's threads.",
        json_schema_extra=_flags("--worker-cpus"),
    )
    # --- reliability and trust (issue 13) -------------------------------------------------
    no_code: bool = Field(
        False,
        description="Refuse a task whose Parser_Format is a .py file (loading it runs its "
        "Python code); for task folders written by someone else.",
        json_schema_extra=_flags("--no-code"),
    )
    wait_timeout: float = Field(
        600.0,
        gt=0,
        description="Longest wait, in seconds, for the engine to start, to give any answer "
        "at all, or to shut down; past it the run stops (exit 1, finished records saved).",
        json_schema_extra=_flags("--wait-timeout"),
    )

    # --- the review loop: reviewed records as examples ---------------------------------
    # (in the resume key through the examples pool's hash, not as paths)
    examples_from: list[Path] = Field(
        default_factory=list,
        description="A run folder whose fully reviewed records (report text and reviewed "
        "values) join the few-shot pool; repeat for several runs. Needs --num-examples.",
        json_schema_extra=_flags("--examples-from", "--examples_from"),
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("num_examples", mode="before")
    @classmethod
    def _examples_count(cls, value: Any) -> Any:
        """'auto' or a whole number >= 0; "3" (a form, a flag) is 3."""
        word = value.strip().lower() if isinstance(value, str) else None
        if word == AUTO:
            return AUTO
        if word is not None and word.isdecimal():
            return int(word)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"expected a number of examples (0 = none) or 'auto', got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_model_file(self) -> Settings:
        if self.engine == "embedded" and self.model:
            try:
                model_file(self.model)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return os.environ.get("CLINEXTRACT_API_KEY") or os.environ.get("OPENAI_API_KEY")

    def output_config(self) -> dict[str, Any]:
        """Settings that change what the model answers. Paths, slots and logging may
        change between a crash and a resume without recomputing finished rows."""
        keys = (
            "engine",
            "model",
            "temperature",
            "seed",
            "max_tokens",
            "num_examples",
            "reasoning",
            "reasoning_tokens",
            "translate",
            "evidence",
            "samples",
            "review_below",
        )
        config = {k: getattr(self, k) for k in keys}
        if self.engine == "embedded":  # answers may differ with it; other engines ignore it
            config["fast_forward"] = self.fast_forward
        return config


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
