"""Ollama's native API (`/api/chat`), for `--engine ollama`.

Start-up, once per --base-url: `POST /api/show` for the model (missing → one line and
exit 2, unless `--pull`, which is the only time a model is downloaded), its
capabilities (`thinking` turns reasoning on unless --no-reasoning) and its context
length; `GET /api/tags` for the weights' digest (part of the configuration hash).

Each request: `format` = the JSON schema; `options` with `num_predict`, `temperature`,
`seed` and a `num_ctx` sized for this request alone: the prompt's length estimated from
its UTF-8 bytes (no tokenizer download) plus the output budget, rounded up to a power of
two (Ollama reloads a model when num_ctx changes, so few distinct sizes are sent) and
capped at the model's own context length.
"""

from __future__ import annotations

import math
import os
from typing import Any

import httpx

from ..errors import ConfigError, EngineError
from ..settings import Settings
from .base import Completion, Request
from .client import Server, ServerEngine, join_url
from .common import portable_schema, token_logprobs
from .faults import Retry

DEFAULT_URL = "http://127.0.0.1:11434"
MIN_CTX = 2048
BYTES_PER_TOKEN = 2.5  # a safe under-estimate of bytes per token (digits, Dutch, CJK)
TOKENS_PER_MESSAGE = 16  # the chat template's own tokens around each message
PULL_TIMEOUT = 3600.0


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """An upper estimate of the prompt's tokens, without the model's tokenizer."""
    size = sum(len(m["content"].encode("utf-8")) for m in messages)
    return math.ceil(size / BYTES_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)


def context_size(prompt_tokens: int, output_tokens: int, model_max: int | None) -> int:
    need = prompt_tokens + output_tokens
    size = max(MIN_CTX, 1 << (need - 1).bit_length())
    return min(size, model_max) if model_max else size


def default_url() -> str:
    """$OLLAMA_HOST as Ollama itself reads it, else the local default."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return DEFAULT_URL
    if "://" not in host:
        host = "http://" + host
    if host.count(":") == 1:  # no port
        host += ":11434"
    return host.replace("0.0.0.0", "127.0.0.1")


class OllamaEngine(ServerEngine):
    name = "ollama"
    kind_label = "Ollama server"

    def __init__(self, settings: Settings):
        if not settings.model:
            raise ConfigError(
                "--engine ollama needs --model NAME (e.g. --model llama3.1:8b; "
                "`ollama list` shows what is installed)"
            )
        self.model = settings.model
        self.thinking = False  # the model can think (capability)
        self.reasoning = bool(settings.reasoning)
        self.context_length: int | None = None
        self.digest: str | None = None
        super().__init__(settings, default_url())

    def api_key(self, settings: Settings) -> str | None:
        """Ollama has no keys, but a proxy in front of it may: --api-key or
        $CLINEXTRACT_API_KEY, never an OpenAI key found in the environment."""
        if settings.api_key is not None:
            return settings.api_key.get_secret_value()
        return os.environ.get("CLINEXTRACT_API_KEY") or None

    # --- start-up ----------------------------------------------------------------------
    def start(self, probe: httpx.Client) -> None:
        for server in self.servers:
            self._check(probe, server)
        if self.settings.reasoning is None:
            self.reasoning = self.thinking

    def _show(self, probe: httpx.Client, server: Server) -> tuple[int, Any]:
        return self.get_json(
            probe, server, join_url(server.url, "api/show"), "POST", json={"model": self.model}
        )

    def _check(self, probe: httpx.Client, server: Server) -> None:
        server.kind = "ollama"
        status, show = self._show(probe, server)
        missing = status == 404 and "model" in str((show or {}).get("error", "")).lower()
        if missing and self.settings.pull:
            self._pull(probe, server)
            status, show = self._show(probe, server)
            missing = status == 404
        if missing:
            raise ConfigError(
                f"model {self.model!r} is not on the Ollama server at {server.url}; "
                f"run `ollama pull {self.model}` there, or add --pull"
            )
        if status >= 500:
            raise EngineError(f"the Ollama server at {server.url} failed: HTTP {status}")
        if status != 200 or not isinstance(show, dict):
            raise ConfigError(
                f"{server.url} is not an Ollama server (POST /api/show answered HTTP "
                f"{status}); give its address with --base-url, e.g. http://127.0.0.1:11434"
            )
        capabilities = show.get("capabilities") or ["completion"]
        if "completion" not in capabilities:
            raise ConfigError(
                f"model {self.model!r} cannot generate text (capabilities: "
                f"{', '.join(capabilities)})"
            )
        self.thinking = self.thinking or "thinking" in capabilities
        info = show.get("model_info") or {}
        arch = info.get("general.architecture")
        length = info.get(f"{arch}.context_length") if arch else None
        if isinstance(length, int) and length > 0:
            self.context_length = min(self.context_length or length, length)
        status, tags = self.get_json(probe, server, join_url(server.url, "api/tags"))
        for entry in (tags or {}).get("models", []) if isinstance(tags, dict) else []:
            if self.model in (entry.get("name"), entry.get("model")) and entry.get("digest"):
                server.info["digest"] = entry["digest"]
        server.info.update(capabilities=capabilities, details=show.get("details") or {})

    def _pull(self, probe: httpx.Client, server: Server) -> None:
        status, body = self.get_json(
            probe,
            server,
            join_url(server.url, "api/pull"),
            "POST",
            json={"model": self.model, "stream": False},
            timeout=PULL_TIMEOUT,
        )
        if status != 200 or (isinstance(body, dict) and body.get("error")):
            detail = body.get("error") if isinstance(body, dict) else f"HTTP {status}"
            raise ConfigError(f"could not pull {self.model!r} on {server.url}: {detail}")

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "servers": [{"url": s.url, **s.info} for s in self.servers],
            "context_length": self.context_length,
            "concurrency": self.settings.concurrency,
            "timeout": self.settings.timeout,
            "reasoning": self.reasoning,
        }

    @property
    def model_id(self) -> str:
        digests = {s.info.get("digest") for s in self.servers} - {None}
        return f"{self.model}@{sorted(digests)[0][:12]}" if len(digests) == 1 else self.model

    # --- requests ----------------------------------------------------------------------
    def health_url(self, server: Server) -> str:
        return join_url(server.url, "api/tags")

    def build(self, request: Request, server: Server) -> tuple[str, dict[str, Any]]:
        return join_url(server.url, "api/chat"), self.body(request)

    def body(self, request: Request) -> dict[str, Any]:
        """The exact /api/chat body for a request."""
        budget = request.max_tokens + (self.settings.reasoning_tokens if self.reasoning else 0)
        options: dict[str, Any] = {
            "num_ctx": context_size(estimate_tokens(request.messages), budget, self.context_length),
            "num_predict": budget,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            options["seed"] = request.seed
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "stream": False,
            "options": options,
        }
        if request.schema is not None:
            body["format"] = portable_schema(request.schema)
        if self.thinking:  # only a thinking model accepts `think`
            body["think"] = self.reasoning
        if request.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        return body

    def parse(
        self, request: Request, server: Server, body: dict[str, Any], seconds: float
    ) -> Completion:
        message = body.get("message")
        if not isinstance(message, dict):
            if body.get("error"):
                raise Retry(f"the Ollama server answered with an error: {body['error']}")
            raise Retry("the answer has no message (not an Ollama /api/chat answer)")
        prompt_tokens = body.get("prompt_eval_count") or 0
        completion_tokens = body.get("eval_count") or 0
        num_ctx = self.body(request)["options"]["num_ctx"]
        if prompt_tokens + completion_tokens >= num_ctx:
            return Completion.failed(
                f"prompt and answer filled the whole context (num_ctx {num_ctx}, the model "
                f"takes {self.context_length or 'unknown'}): Ollama may have cut the report"
            )
        return Completion(
            text=message.get("content") or "",
            finish_reason="length" if body.get("done_reason") == "length" else "stop",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=seconds,
            reasoning=message.get("thinking") or None,
            logprobs=token_logprobs(body.get("logprobs")),
        )


__all__ = ["OllamaEngine", "context_size", "estimate_tokens"]
