"""`clinextract serve` and the OpenAI engine against it: the real model behind llama.cpp's
HTTP server on 127.0.0.1, the CLI as a subprocess."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time

import httpx
import pytest

from clinextract.messages import render_completion_prompt
from clinextract.serve import gguf_chat_template
from tests.engines.helpers import (
    RADIOLOGY_REPORTS,
    RADIOLOGY_SPEC,
    ServeProcess,
    cli_env,
    free_port,
    records,
    run_args,
    run_cli,
    run_dir,
    write_task,
)

KEY = "test-key"
COMMON = ("--max-tokens", "48", "--num-examples", "2")  # 2 worked examples: varied answers


# --- without the model ---------------------------------------------------------------------


def test_port_in_use_is_exit_2_before_loading(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            ["clinextract", "serve", "--port", str(port)],
            env=cli_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2
    (line,) = [x for x in proc.stderr.splitlines() if "error" in x]
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_serve_help_lists_its_options():
    proc = subprocess.run(
        ["clinextract", "serve", "--help"], env=cli_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0
    for flag in ("--model", "--host", "--port", "--parallel", "--chat-template", "--api-key"):
        assert flag in proc.stdout
    assert "--num-examples" not in proc.stdout  # only the engine's settings


def _gguf(path, kvs):
    """A GGUF header with the given (key, type, value) entries and no tensors."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)))
    for key, kind, value in kvs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", kind)
        if kind == 8:
            out += struct.pack("<Q", len(value.encode())) + value.encode()
        elif kind == 9:  # an array of strings
            out += struct.pack("<IQ", 8, len(value))
            for item in value:
                out += struct.pack("<Q", len(item)) + item.encode()
        else:
            out += struct.pack("<I", value)
    path.write_bytes(bytes(out))
    return path


def test_gguf_chat_template_is_read_from_the_header(tmp_path):
    tokens = ("tokenizer.ggml.tokens", 9, ["<s>", "a", "bb"])
    with_template = _gguf(tmp_path / "a.gguf", [
        ("general.architecture", 8, "llama"), tokens, ("llama.context_length", 4, 4096),
        ("tokenizer.chat_template", 8, "{{ messages }}"),
    ])  # fmt: skip
    without = _gguf(tmp_path / "b.gguf", [("general.architecture", 8, "gemma3"), tokens])
    assert gguf_chat_template(with_template) == "{{ messages }}"
    assert gguf_chat_template(without) is None


# --- with the model: one server for the module ---------------------------------------------


@pytest.fixture(scope="module")
def served():
    """`clinextract serve` on a fixed port (a test restarts it there), one slot, a key."""
    port = free_port()
    holder = {"port": port}
    holder["server"] = ServeProcess(
        "--parallel", "1", "--threads", "1", "--api-key", KEY, port=port
    )
    yield holder
    holder["server"].stop()


@pytest.mark.model
def test_served_model_renders_chat_like_the_embedded_engine(served):
    server = served["server"]
    assert "chat template: clinextract completion format" in server.banner
    headers = {"Authorization": f"Bearer {KEY}"}
    models = httpx.get(f"{server.url}/models", headers=headers).json()
    assert [m["id"] for m in models["data"]] == ["gemma-3-270m-q4_k_m"]
    conversation = [
        {"role": "system", "content": "Extract."},
        {"role": "user", "content": "Report:\nCT: 5 mm"},
        {"role": "assistant", "content": '{"a":1}'},
        {"role": "user", "content": "Report:\nMRI"},
    ]
    root = server.url.removesuffix("/v1")
    rendered = httpx.post(
        f"{root}/apply-template", json={"messages": conversation}, headers=headers
    ).json()["prompt"]
    assert rendered == render_completion_prompt(conversation)
    assert httpx.get(f"{server.url}/models").status_code == 401  # the key is required


@pytest.mark.model
def test_wrong_or_missing_key_is_exit_2(served, tmp_path):
    task = write_task(tmp_path, RADIOLOGY_REPORTS[:1], RADIOLOGY_SPEC)
    proc = run_cli(task, "--engine", "openai", "--base-url", served["server"].url)
    assert proc.returncode == 2
    assert "refused the API key" in proc.stderr


@pytest.mark.model
def test_same_records_through_serve_as_embedded(served, tmp_path):
    """At temperature 0 and one slot on both sides (batch size changes llama.cpp's
    numerics), a task gives the same records through `serve` + `--engine openai` as
    in-process."""
    task = write_task(tmp_path, RADIOLOGY_REPORTS[:4], RADIOLOGY_SPEC)
    embedded = run_cli(task, "--parallel", "1", "--threads", "1", *COMMON,
                       "--run-name", "embedded", timeout=300)  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr
    through = run_cli(task, "--engine", "openai", "--base-url", served["server"].url,
                      "--api-key", KEY, "--concurrency", "1", *COMMON,
                      "--run-name", "served", timeout=300)  # fmt: skip
    assert through.returncode == 0, through.stderr

    def key(rec):
        return rec["row"], rec["status"], rec["fields"], rec["raw_output"], rec["attempts"]

    a = sorted(map(key, records(task, "embedded")))
    b = sorted(map(key, records(task, "served")))
    assert len(a) == 4 and a == b
    assert len({json.dumps(r[2]) for r in a}) > 1  # the answers differ between reports
    manifest = json.loads((run_dir(task, "served") / "manifest.json").read_text())
    assert manifest["engine"]["engine"] == "openai"
    assert manifest["engine"]["servers"][0]["structured"] == "grammar"


@pytest.mark.model
def test_killed_server_then_restart_resumes_without_recomputing(served, tmp_path):
    task = write_task(tmp_path, RADIOLOGY_REPORTS, RADIOLOGY_SPEC)
    args = run_args(
        task,
        "--engine",
        "openai",
        "--base-url",
        served["server"].url,
        "--api-key",
        KEY,
        "--concurrency",
        "1",
        "--max-failures",
        "3",
        *COMMON,
    )
    run = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while len(records(task)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        served["server"].kill()
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 1, err
    lines = [x for x in err.splitlines() if "error" in x]
    assert len(lines) == 1 and "run the same command again to resume" in lines[0], err
    done = records(task)
    assert 2 <= len(done) < len(RADIOLOGY_REPORTS)
    manifest = json.loads((run_dir(task) / "manifest.json").read_text())
    assert manifest["status"] != "complete"

    served["server"] = ServeProcess(
        "--parallel", "1", "--threads", "1", "--api-key", KEY, port=served["port"]
    )
    again = subprocess.run(args, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} reused" in again.stdout
    rows = [r["row"] for r in records(task)]
    assert sorted(rows) == list(range(len(RADIOLOGY_REPORTS)))  # each row exactly once
    assert records(task)[: len(done)] == done  # the first run's lines, untouched
