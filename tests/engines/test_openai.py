"""The OpenAI-compatible engine's protocol: what it sends and how it reads answers, over
real HTTP against the scripted fault server (a test fixture with canned answers, no
model). The same engine against a real model (`clinextract serve`) is in test_serve.py."""

from __future__ import annotations

import json

import pytest
import xllamacpp

from clinextract.engines import Request, create_engine
from clinextract.errors import ConfigError
from clinextract.settings import Settings
from tests.engines.fixtures.fault_server import FaultServer, Reply, completion, ok
from tests.engines.helpers import predictions, records, run_cli, write_task

SCHEMA = {
    "type": "object",
    "properties": {"value": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["value"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}
MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "Report:\nvalue 7"}]


def engine_for(*servers, **settings):
    settings.setdefault("base_url", [s.url for s in servers])
    return create_engine(Settings(engine="openai", **settings))


def ask(engine, **kw):
    request = Request(MESSAGES, kw.pop("schema", SCHEMA), kw.pop("max_tokens", 64), 0.0, 5, **kw)
    return engine.submit(request).result(timeout=30)


def test_exact_request_body_for_a_generic_server(server):
    # the base URL may be given with or without /v1
    with engine_for(server, base_url=[server.url.removesuffix("/v1")]) as engine:
        done = ask(engine)
    schema = {k: v for k, v in SCHEMA.items() if k != "x-guidance"}
    assert server.chat_bodies == [
        {
            "model": "fake-model",
            "messages": MESSAGES,
            "max_tokens": 64,
            "temperature": 0.0,
            "stream": False,
            "seed": 5,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "extraction", "schema": schema, "strict": True},
            },
        }
    ]
    assert (done.text, done.finish_reason) == ('{"value": 7}', "stop")
    assert (done.prompt_tokens, done.completion_tokens) == (50, 7)
    assert server.paths[0] == "/v1/models"  # checked once at start-up


@pytest.mark.parametrize("server", [{"owned_by": "llamacpp"}], indirect=True)
def test_llama_cpp_gets_a_compact_grammar(server):
    with engine_for(server) as engine:
        ask(engine)
        assert engine.describe()["servers"][0]["structured"] == "grammar"
    body = server.chat_bodies[0]
    assert "response_format" not in body
    # the same grammar the embedded engine sends (keys in the schema's order: the order of
    # the answer), x-guidance included
    assert body["grammar"] == xllamacpp.json_schema_to_grammar(SCHEMA)
    assert '"whitespace_flexible":false' in body["grammar"]
    assert "/props" in server.paths  # asked once, for its chat template


def test_vllm_falls_back_to_guided_json_once():
    def script(n, body):
        if "response_format" in body:
            error = {"message": "unknown field response_format"}
            return Reply(status=400, payload={"error": error})
        return ok(body)

    server = FaultServer(script, owned_by="vllm").start()
    try:
        with engine_for(server, concurrency=1) as engine:
            first, second = ask(engine), ask(engine)
    finally:
        server.stop()
    assert [("response_format" in b, "guided_json" in b) for b in server.chat_bodies] == [
        (True, False), (False, True), (False, True)
    ]  # fmt: skip
    assert server.chat_bodies[1]["guided_json"] == {
        k: v for k, v in SCHEMA.items() if k != "x-guidance"
    }
    assert first.text == second.text == '{"value": 7}'


def test_a_400_is_this_rows_failure_without_retry(server):
    server.script = lambda n, body: Reply(
        status=400, payload={"error": {"message": "request (9000 tokens) exceeds the context"}}
    )
    with engine_for(server) as engine:
        done = ask(engine)
    assert done.finish_reason == "error" and "exceeds the context" in done.error
    assert server.chats == 1


def test_reasoning_budget_and_switches():
    server = FaultServer(owned_by="vllm").start()
    try:
        with engine_for(server, reasoning=True, reasoning_tokens=300) as engine:
            ask(engine, max_tokens=64)
        with engine_for(server, reasoning=False) as engine:
            ask(engine, max_tokens=64)
        with engine_for(server) as engine:  # auto: vLLM does not say, so off
            ask(engine, max_tokens=64)
    finally:
        server.stop()
    on, off, auto = server.chat_bodies
    assert on["max_tokens"] == 364 and "chat_template_kwargs" not in on
    assert off["max_tokens"] == 64
    assert off["chat_template_kwargs"] == {"enable_thinking": False}
    assert auto["max_tokens"] == 64 and "chat_template_kwargs" not in auto


@pytest.mark.parametrize("style", ["field", "tags"])
def test_reasoning_text_goes_to_the_audit_data_not_the_fields(tmp_path, style):
    def script(n, body):
        answer = json.loads(ok(body).payload["choices"][0]["message"]["content"])
        if style == "field":
            return Reply(payload=completion(json.dumps(answer), reasoning_content="I read 11."))
        return Reply(payload=completion("<think>I read 11.</think>\n" + json.dumps(answer)))

    task = write_task(tmp_path, ["value 11"])
    server = FaultServer(script).start()
    try:
        proc = run_cli(task, "--engine", "openai", "--base-url", server.url)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    (record,) = records(task)
    assert record["status"] == "success" and record["fields"] == {"value": 11}
    assert record["reasoning"] == "I read 11."
    assert "I read" not in json.dumps(predictions(task))


def test_round_robin_over_servers_and_failover():
    a, b = FaultServer().start(), FaultServer().start()
    try:
        with engine_for(a, b, concurrency=1) as engine:
            for _ in range(6):
                ask(engine)
        assert (a.chats, b.chats) == (3, 3)
        b.script = lambda n, body: Reply(status=503)  # b breaks: its requests move to a
        with engine_for(a, b, concurrency=1, max_failures=3) as engine:
            answers = [ask(engine) for _ in range(4)]
    finally:
        a.stop()
        b.stop()
    assert all(x.text == '{"value": 7}' for x in answers)
    assert a.chats == 3 + 4


def test_api_key_from_option_or_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-env")
    monkeypatch.delenv("CLINEXTRACT_API_KEY", raising=False)
    with engine_for(server) as engine:
        ask(engine)
    monkeypatch.setenv("CLINEXTRACT_API_KEY", "from-our-env")
    with engine_for(server) as engine:
        ask(engine)
    with engine_for(server, api_key="given") as engine:
        ask(engine)
    assert set(server.auth[:2]) == {"Bearer from-openai-env"}
    assert set(server.auth[2:4]) == {"Bearer from-our-env"}
    assert set(server.auth[4:]) == {"Bearer given"}


@pytest.mark.parametrize("server", [{"models": ("m1", "m2")}], indirect=True)
def test_a_server_with_several_models_needs_model(server):
    with pytest.raises(ConfigError, match=r"serves 2 models \(m1, m2\); choose one with --model"):
        engine_for(server)
    with engine_for(server, model="m2") as engine:
        ask(engine)
    assert server.chat_bodies[0]["model"] == "m2"


def test_length_usage_and_logprobs_are_read(server):
    payload = completion('{"value": 1', finish="length")
    payload["usage"]["prompt_tokens_details"] = {"cached_tokens": 40}
    top = [{"token": "{", "logprob": -0.1}]
    payload["choices"][0]["logprobs"] = {
        "content": [{"token": "{", "logprob": -0.1, "top_logprobs": top}]
    }
    server.script = lambda n, body: Reply(payload=payload)
    with engine_for(server) as engine:
        done = ask(engine, top_logprobs=1)
    assert done.finish_reason == "length" and done.cached_tokens == 40
    assert done.logprobs[0].token == "{" and done.logprobs[0].top == {"{": -0.1}
    assert server.chat_bodies[0]["logprobs"] is True
    assert server.chat_bodies[0]["top_logprobs"] == 1


def test_model_id_follows_the_weights_not_the_servers_context():
    def model_id(**meta):
        server = FaultServer(owned_by="llamacpp", meta=meta).start()
        try:
            with engine_for(server) as engine:
                return engine.model_id
        finally:
            server.stop()

    weights = {"n_params": 268098176, "size": 246587904, "ftype": "Q4_K - Medium"}
    one_slot = model_id(**weights, n_ctx=4096)
    assert one_slot.startswith("fake-model@")
    assert model_id(**weights, n_ctx=32768) == one_slot  # `serve --parallel 8`: same model
    assert model_id(**{**weights, "size": 1}, n_ctx=4096) != one_slot  # other weights
