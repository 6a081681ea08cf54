"""`--engine ollama` against a server that speaks Ollama's API (tests/fixtures/
ollama_server.py, a test fixture): the exact request body, context sizing, start-up
checks and thinking models over a fake engine (unit tests, the fixture answers through
FakeEngine); then end to end over the real embedded model."""

from __future__ import annotations

import json

import pytest

from clinextract.engines import Request, create_engine
from clinextract.engines.ollama import context_size, estimate_tokens
from clinextract.errors import ConfigError
from clinextract.settings import Settings
from tests.engines.fixtures.ollama_server import CONTEXT_LENGTH, DIGEST, OllamaFixture
from tests.engines.helpers import (
    RADIOLOGY_REPORTS,
    RADIOLOGY_SPEC,
    records,
    run_cli,
    run_dir,
    write_task,
)
from tests.fakes import FakeEngine, ok

SCHEMA = {
    "type": "object",
    "properties": {"value": {"type": "integer"}},
    "required": ["value"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}
MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Report:\nv 7"}]


@pytest.fixture
def fake_server():
    """The fixture server over a fake engine that always answers {"value": 7}."""
    server = OllamaFixture(FakeEngine(lambda request: ok('{"value": 7}'))).start()
    yield server
    server.stop()
    server.engine.close()


def engine_for(server, **settings):
    settings.setdefault("model", "gemma3:270m")
    return create_engine(Settings(engine="ollama", base_url=[server.url], **settings))


def chats(server):
    return [body for path, body in server.bodies if path == "/api/chat"]


def test_exact_request_body(fake_server):
    with engine_for(fake_server) as engine:
        done = engine.submit(Request(MESSAGES, SCHEMA, 100, 0.0, 7)).result(timeout=30)
        assert engine.model_id == "gemma3:270m@" + DIGEST[:12]
    assert chats(fake_server) == [
        {
            "model": "gemma3:270m",
            "messages": MESSAGES,
            "stream": False,
            "options": {"num_ctx": 2048, "num_predict": 100, "temperature": 0.0, "seed": 7},
            "format": {k: v for k, v in SCHEMA.items() if k != "x-guidance"},
        }
    ]
    assert (done.text, done.finish_reason, done.completion_tokens) == ('{"value": 7}', "stop", 5)
    paths = [path for path, _ in fake_server.bodies]
    assert paths[:2] == ["/api/show", "/api/tags"] and "/api/pull" not in paths


def test_num_ctx_is_sized_per_request(fake_server):
    long_report = [{"role": "user", "content": "nodus 12 mm " * 1000}]  # 12,000 bytes
    huge_report = [{"role": "user", "content": "x" * 200_000}]
    with engine_for(fake_server) as engine:
        for messages, budget in ((MESSAGES, 100), (long_report, 512), (huge_report, 512)):
            engine.submit(Request(messages, SCHEMA, budget, 0.0, 1)).result(timeout=30)
    sizes = [body["options"]["num_ctx"] for body in chats(fake_server)]
    assert sizes == [2048, 8192, CONTEXT_LENGTH]  # small, 4,816+512 → 8192, capped


def test_token_estimate_is_an_upper_bound_for_digits_and_text():
    # Gemma's tokenizer splits numbers into digits: 1 byte per token at worst for them
    messages = [{"role": "user", "content": "1234567890" * 10}]
    assert estimate_tokens(messages) >= 100 / 2.5
    assert context_size(1000, 1048, None) == 2048
    assert context_size(1000, 1049, None) == 4096
    assert context_size(50_000, 512, 32768) == 32768


def test_missing_model_is_one_line_exit_2(fake_server, tmp_path):
    task = write_task(tmp_path, ["value 1"])
    proc = run_cli(task, "--engine", "ollama", "--model", "llama3.1:8b",
                   "--base-url", fake_server.url)  # fmt: skip
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if "error" in x]
    assert len(lines) == 1
    assert "model 'llama3.1:8b' is not on the Ollama server" in lines[0]
    assert "ollama pull llama3.1:8b" in lines[0] and "--pull" in lines[0]
    assert not any(path == "/api/pull" for path, _ in fake_server.bodies)


def test_pull_only_when_asked(fake_server):
    fake_server.pullable = {"qwen3:0.6b"}
    with pytest.raises(ConfigError, match="not on the Ollama server"):
        engine_for(fake_server, model="qwen3:0.6b")
    with engine_for(fake_server, model="qwen3:0.6b", pull=True) as engine:
        engine.submit(Request(MESSAGES, SCHEMA, 10)).result(timeout=30)
    pulls = [body for path, body in fake_server.bodies if path == "/api/pull"]
    assert pulls == [{"model": "qwen3:0.6b", "stream": False}]
    with pytest.raises(ConfigError, match="could not pull 'nope:1b'"):
        engine_for(fake_server, model="nope:1b", pull=True)


def test_a_server_that_is_not_ollama_is_exit_2(tmp_path):
    from tests.engines.fixtures.fault_server import FaultServer

    other = FaultServer().start()  # an OpenAI-compatible server: 404 on /api/show
    try:
        task = write_task(tmp_path, ["value 1"])
        url = other.url.removesuffix("/v1")
        proc = run_cli(task, "--engine", "ollama", "--model", "m", "--base-url", url)
    finally:
        other.stop()
    assert proc.returncode == 2
    assert "is not an Ollama server (POST /api/show answered HTTP 404)" in proc.stderr


def test_an_openai_key_in_the_environment_is_not_sent_to_ollama(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.delenv("CLINEXTRACT_API_KEY", raising=False)
    with engine_for(fake_server) as engine:
        engine.submit(Request(MESSAGES, SCHEMA, 10)).result(timeout=30)
    monkeypatch.setenv("CLINEXTRACT_API_KEY", "for-the-proxy")
    with engine_for(fake_server) as engine:
        engine.submit(Request(MESSAGES, SCHEMA, 10)).result(timeout=30)
    first = len(fake_server.auth) // 2
    assert set(fake_server.auth[:first]) == {None}
    assert set(fake_server.auth[first:]) == {"Bearer for-the-proxy"}


def test_model_is_required():
    with pytest.raises(ConfigError, match="--engine ollama needs --model"):
        create_engine(Settings(engine="ollama", base_url=["http://127.0.0.1:9"]))


def test_thinking_model_gets_a_budget_and_keeps_its_thoughts(tmp_path):
    server = OllamaFixture(
        FakeEngine(lambda request: ok('{"value": 3}')), thinking="The report says 3."
    ).start()
    try:
        task = write_task(tmp_path, ["value 3"])
        proc = run_cli(task, "--engine", "ollama", "--model", "gemma3:270m",
                       "--base-url", server.url, "--reasoning-tokens", "300")  # fmt: skip
        with engine_for(server, reasoning=False) as engine:
            engine.submit(Request(MESSAGES, SCHEMA, 100)).result(timeout=30)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    auto, off = chats(server)
    assert auto["think"] is True and auto["options"]["num_predict"] == 512 + 300
    assert off["think"] is False and off["options"]["num_predict"] == 100
    (record,) = records(task)
    assert record["fields"] == {"value": 3} and record["reasoning"] == "The report says 3."
    manifest = json.loads((run_dir(task) / "manifest.json").read_text())
    assert manifest["engine"]["reasoning"] is True


@pytest.mark.model
def test_ollama_engine_end_to_end_over_the_real_model(tmp_path):
    from clinextract.engines.embedded import EmbeddedEngine

    embedded = EmbeddedEngine(Settings(parallel=2, threads=1))
    server = OllamaFixture(embedded).start()
    try:
        task = write_task(tmp_path, RADIOLOGY_REPORTS[:4], RADIOLOGY_SPEC)
        proc = run_cli(task, "--engine", "ollama", "--model", "gemma3:270m",
                       "--base-url", server.url, "--concurrency", "2",
                       "--max-tokens", "48", "--num-examples", "2", timeout=300)  # fmt: skip
    finally:
        server.stop()
        embedded.close()
    assert proc.returncode == 0, proc.stderr
    recs = records(task)
    assert sorted(r["row"] for r in recs) == [0, 1, 2, 3]
    assert sum(r["status"] == "success" for r in recs) >= 3, recs
    for body in chats(server):
        assert body["format"]["required"] == ["exam", "nodule", "size_mm"]
        assert body["options"]["num_ctx"] == 2048 and body["options"]["temperature"] == 0.0
        assert "think" not in body  # the model has no thinking capability
    manifest = json.loads((run_dir(task) / "manifest.json").read_text())
    assert manifest["engine"]["engine"] == "ollama"
    assert manifest["engine"]["context_length"] == CONTEXT_LENGTH
