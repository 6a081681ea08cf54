"""`clinextract serve`: the embedded model as an OpenAI-compatible server.

llama.cpp's own HTTP server (through xllamacpp) does the serving: /v1/chat/completions,
/v1/completions, /v1/models, /health, continuous batching over --parallel slots. CLI
runs (`--engine openai --base-url http://HOST:PORT`), the Studio and any OpenAI client
then share one loaded model.

A base model has no chat template of its own (llama.cpp would fall back to ChatML, which
the bundled model does not know). `--chat-template auto` then installs clinextract's
completion format as the template, so a chat request is rendered exactly as the
embedded engine renders it: the same task at temperature 0 gives the same records
through the server as in-process.
"""

from __future__ import annotations

import mmap
import signal
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli_common import (
    bind_socket,
    err_console,
    out_console,
    run_guarded,
    settings_from,
    settings_options,
)
from .errors import ConfigError
from .messages import COMPLETION_FORMAT
from .settings import Settings, model_file

if TYPE_CHECKING:
    from .engines.embedded import EmbeddedEngine

SERVE_FIELDS = ("model", "parallel", "ctx_per_slot", "threads", "api_key", "verbose")


def completion_format_template() -> str:
    """`messages.COMPLETION_FORMAT` as a Jinja chat template (llama.cpp's --jinja)."""

    def turn(fmt: str, placeholder: str) -> str:
        before, after = fmt.split(placeholder)
        return "".join(
            [
                "{{ " + repr(before) + " }}" if before else "",
                "{{ message['content'] }}",
                "{{ " + repr(after) + " }}" if after else "",
            ]
        )

    system, user, assistant = COMPLETION_FORMAT
    return (
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'system' -%}"
        + turn(system, "{system}")
        + "{%- elif message['role'] == 'user' -%}"
        + turn(user, "{content}")
        + "{%- else -%}"
        + turn(assistant, "{content}")
        + "{%- endif -%}{%- endfor -%}"
    )


# --- GGUF: does the model file carry a chat template? ------------------------------------

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def gguf_chat_template(path: Path) -> str | None:
    """The `tokenizer.chat_template` stored in a GGUF file, or None (read from the
    header only; the tensors are not touched)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ConfigError(f"{path}: not a GGUF file")
        (version,) = struct.unpack_from("<I", buf, 4)
        if version < 2:
            raise ConfigError(f"{path}: GGUF version {version} is too old")
        (n_kv,) = struct.unpack_from("<Q", buf, 16)
        pos = 24

        def string(at: int) -> tuple[bytes, int]:
            (length,) = struct.unpack_from("<Q", buf, at)
            return buf[at + 8 : at + 8 + length], at + 8 + length

        def skip(kind: int, at: int) -> int:
            if kind in _SCALAR:
                return at + _SCALAR[kind]
            if kind == _STRING:
                return at + 8 + struct.unpack_from("<Q", buf, at)[0]
            if kind == _ARRAY:
                item, count = struct.unpack_from("<IQ", buf, at)
                at += 12
                if item in _SCALAR:
                    return at + count * _SCALAR[item]
                for _ in range(count):
                    at = skip(item, at)
                return at
            raise ConfigError(f"{path}: unknown GGUF value type {kind}")

        for _ in range(n_kv):
            key, pos = string(pos)
            (kind,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if key == b"tokenizer.chat_template" and kind == _STRING:
                return string(pos)[0].decode("utf-8", errors="replace")
            pos = skip(kind, pos)
    return None


# --- the command ---------------------------------------------------------------------------


def check_port(host: str, port: int) -> None:
    """Fail with one line (exit 2) when the address cannot be listened on."""
    if port == 0:
        return
    bind_socket(host, port).close()


def start_server(
    settings: Settings, host: str, port: int, name: str | None, chat_template: str
) -> tuple[EmbeddedEngine, dict[str, Any]]:
    """Load the model and start listening; returns (engine, what is served)."""
    from .engines.embedded import EmbeddedEngine, bundled_model

    check_port(host, port)
    path = model_file(settings.model) if settings.model else bundled_model()[0]
    own = gguf_chat_template(path)
    use_ours = chat_template == "clinextract" or (chat_template == "auto" and not own)
    served = {
        "name": name or path.stem,
        "file": str(path),
        "chat_template": "clinextract completion format" if use_ours else "the model's own",
    }
    key = settings.api_key.get_secret_value() if settings.api_key else None

    def configure(params: Any) -> None:
        params.model_alias = {served["name"]}
        if use_ours:
            params.chat_template = completion_format_template()
        if key:
            params.api_keys = [key]

    engine = EmbeddedEngine(settings, host=host, port=port, configure=configure)
    served["url"] = f"{engine.address}/v1"
    return engine, served


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--name", default=None, help="Model name clients use (default: the file's stem).")
@click.option(
    "--chat-template",
    type=click.Choice(["auto", "model", "clinextract"]),
    default="auto",
    show_default=True,
    help="auto: the model's own, or clinextract's completion format when it has none.",
)
@settings_options(exclude=tuple(n for n in Settings.model_fields if n not in SERVE_FIELDS))
def serve_cmd(host: str, port: int, name: str | None, chat_template: str, **options: Any) -> None:
    """Serve the embedded model as an OpenAI-compatible endpoint (/v1/chat/completions)."""
    run_guarded(lambda: _serve(host, port, name, chat_template, options))


def _serve(
    host: str, port: int, name: str | None, chat_template: str, options: dict[str, Any]
) -> int:
    settings = settings_from(options)
    err_console.print(f"loading {settings.model or 'the bundled model'} ...", highlight=False)
    try:
        engine, served = start_server(settings, host, port, name, chat_template)
    except KeyboardInterrupt:
        err_console.print("stopped before the server started", highlight=False)
        return 130
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    out_console.print(
        f"serving {served['name']} at {served['url']} "
        f"({settings.parallel} slots, chat template: {served['chat_template']})",
        highlight=False,
        soft_wrap=True,
    )
    out_console.print(
        f"  use it: clinextract run ... --engine openai --base-url {served['url']}",
        highlight=False,
        soft_wrap=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        err_console.print(
            f"[yellow]warning:[/yellow] listening on {host} without --api-key: anyone who "
            "can reach this port can send reports to it",
            highlight=False,
        )
    out_console.file.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        engine.close()
        err_console.print("server stopped", highlight=False)
    return 0
