"""OpenAI-compatible servers: vLLM, SGLang, llama.cpp's server, LM Studio, Ollama's /v1,
and `clinextract serve`.

Start-up, once per --base-url: `GET /v1/models` (unreachable → exit 1, model absent →
exit 2, one line each); the entry's `owned_by` tells the server kind, and a llama.cpp
server is asked `/props` for its chat template (is it a reasoning model?).

Structured output, by server kind:
  * llama.cpp: `grammar`, converted here from the schema (its `response_format` route
    drops the compact-JSON `x-guidance` options and answers with ~30 % more tokens);
    `response_format` when a reasoning model must think first;
  * vLLM: `response_format` json_schema; if the server rejects it (older vLLM), its own
    `guided_json`, decided on the first rejection and kept;
  * everything else: `response_format` json_schema.

Answers: `finish_reason` ("length" → retry with a larger budget), `usage` (prompt,
completion and cached tokens), `reasoning_content`/`reasoning` → Completion.reasoning.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx

from ..errors import ConfigError
from ..settings import Settings, stable_hash
from .base import Completion, Request
from .client import Server, ServerEngine, join_url
from .common import grammar_for, portable_schema, token_logprobs
from .faults import Retry, error_text

DEFAULT_URL = "http://127.0.0.1:8000/v1"  # where `clinextract serve` listens
THINKING_MARKERS = ("<think>", "enable_thinking", "reasoning_content")
WEIGHT_KEYS = ("n_params", "size", "ftype", "n_vocab", "n_embd", "n_ctx_train", "vocab_type")


@cache
def _has_grammar_converter() -> bool:
    try:
        import xllamacpp  # noqa: F401 - a dependency, but keep the engine usable without it
    except ImportError:  # pragma: no cover
        return False
    return True


class OpenAIEngine(ServerEngine):
    name = "openai"
    kind_label = "OpenAI-compatible server"

    def __init__(self, settings: Settings):
        self.model = settings.model
        self.reasoning = bool(settings.reasoning)
        super().__init__(settings, DEFAULT_URL)

    @staticmethod
    def normalize_url(url: str) -> str:
        url = ServerEngine.normalize_url(url)
        return url if url.endswith("/v1") else url + "/v1"

    # --- start-up ----------------------------------------------------------------------
    def start(self, probe: httpx.Client) -> None:
        for server in self.servers:
            self._check(probe, server)
        if self.settings.reasoning is None:  # auto: on when a server says so
            self.reasoning = any(s.info.get("thinking") for s in self.servers)
        for server in self.servers:
            server.info["structured"] = self._structured_field(server)

    def _check(self, probe: httpx.Client, server: Server) -> None:
        status, body = self.get_json(probe, server, join_url(server.url, "models"))
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ConfigError(
                f"{server.url} is not an OpenAI-compatible server (GET /v1/models answered "
                f"HTTP {status}); give the server's address with --base-url, e.g. "
                "http://127.0.0.1:8000/v1"
            )
        entries = [m for m in body["data"] if isinstance(m, dict) and m.get("id")]
        names = [str(m["id"]) for m in entries]
        if self.model is None:
            if len(names) != 1:
                listed = ", ".join(names) or "none"
                raise ConfigError(
                    f"the server at {server.url} serves {len(names)} models ({listed}); "
                    "choose one with --model"
                )
            self.model = names[0]
        entry = next(
            (m for m in entries if self.model == m["id"] or self.model in m.get("aliases", [])),
            None,
        )
        if entry is None:
            raise ConfigError(
                f"model {self.model!r} is not on the server at {server.url} "
                f"(it serves: {', '.join(names) or 'no models'})"
            )
        owner = str(entry.get("owned_by", "")).lower()
        server.kind = {"llamacpp": "llamacpp", "vllm": "vllm", "sglang": "sglang"}.get(
            owner, "generic"
        )
        server.info = {"model": entry["id"], "owned_by": owner}
        meta = entry.get("meta")
        if isinstance(meta, dict):  # llama.cpp: the weights' size, parameters, type
            weights = {k: meta[k] for k in WEIGHT_KEYS if k in meta}  # not n_ctx: a setting
            server.info["weights"] = stable_hash(weights, 12)
        if server.kind == "llamacpp":
            root = server.url[: -len("/v1")]
            status, props = self.get_json(probe, server, join_url(root, "props"))
            if status == 200 and isinstance(props, dict):
                template = str(props.get("chat_template") or "")
                server.info["thinking"] = any(m in template for m in THINKING_MARKERS)
                server.info["slots"] = props.get("total_slots")

    def _structured_field(self, server: Server) -> str:
        if server.kind == "llamacpp" and not self.reasoning and _has_grammar_converter():
            return "grammar"
        return "response_format"

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "servers": [{"url": s.url, "kind": s.kind, **s.info} for s in self.servers],
            "concurrency": self.settings.concurrency,
            "timeout": self.settings.timeout,
            "reasoning": self.reasoning,
        }

    @property
    def model_id(self) -> str:
        weights = {s.info.get("weights") for s in self.servers} - {None}
        return f"{self.model}@{sorted(weights)[0]}" if len(weights) == 1 else str(self.model)

    # --- requests ----------------------------------------------------------------------
    def health_url(self, server: Server) -> str:
        return join_url(server.url, "models")

    def build(self, request: Request, server: Server) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens
            + (self.settings.reasoning_tokens if self.reasoning else 0),
            "temperature": request.temperature,
            "stream": False,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.top_logprobs and server.info.get("logprobs", True):
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        if request.schema is not None:
            structured = server.info.get("structured", "response_format")
            if structured == "grammar":
                body["grammar"] = grammar_for(request.schema)
            elif structured == "guided_json":
                body["guided_json"] = portable_schema(request.schema)
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "extraction",
                        "schema": portable_schema(request.schema),
                        "strict": True,
                    },
                }
        if server.kind in ("llamacpp", "vllm", "sglang") and self.settings.reasoning is False:
            body["chat_template_kwargs"] = {"enable_thinking": False}
        return join_url(server.url, "chat/completions"), body

    def rejected(self, request: Request, server: Server, response: httpx.Response) -> bool:
        """A server without log-probabilities: ask without them (no confidence then).
        vLLM before `response_format` json_schema: fall back to its `guided_json`."""
        message = error_text(response).lower()
        if request.top_logprobs and server.info.get("logprobs", True) and "logprob" in message:
            server.info["logprobs"] = False
            return True
        if (
            server.kind == "vllm"
            and server.info.get("structured") == "response_format"
            and request.schema is not None
            and ("response_format" in message or "json_schema" in message)
        ):
            server.info["structured"] = "guided_json"
            return True
        return False

    def parse(
        self, request: Request, server: Server, body: dict[str, Any], seconds: float
    ) -> Completion:
        return parse_chat_reply(body, seconds)


def parse_chat_reply(body: dict[str, Any], seconds: float) -> Completion:
    """An OpenAI chat.completion → Completion; a different shape is a Retry."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if "error" in body:
            raise Retry(f"the server answered with an error: {error_message(body['error'])}")
        raise Retry("the server's answer has no choices (not an OpenAI chat completion)")
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or None
    usage = body.get("usage") or {}
    return Completion(
        text=text,
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        seconds=seconds,
        reasoning=reasoning,
        logprobs=token_logprobs((choice.get("logprobs") or {}).get("content")),
    )


def error_message(error: Any) -> str:
    if isinstance(error, dict):
        error = error.get("message", error)
    return " ".join(str(error).split())[:200]
