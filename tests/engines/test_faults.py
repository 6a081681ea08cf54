"""Faults between clinextract and a server: real HTTP on 127.0.0.1 against the scripted
fault server (tests/fixtures/fault_server.py, a test fixture with canned answers), and
the real CLI as a subprocess (exit codes, one-line messages, records on disk)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.engines.fixtures.fault_server import FaultServer, Reply, completion, ok
from tests.engines.helpers import (
    TESTS,
    error_lines,
    free_port,
    predictions,
    records,
    run_args,
    run_cli,
    run_dir,
    write_task,
)

REPORTS = ["value 11 here", "the value is 22", "value 33", "44"]


@pytest.fixture
def task(tmp_path):
    return write_task(tmp_path, REPORTS)


def openai(server, *extra):
    return ["--engine", "openai", "--base-url", server.url, *extra]


def serve(script):
    return FaultServer(script).start()


def test_http_500_is_retried_then_succeeds(task):
    server = serve(lambda n, body: Reply(status=500) if n < 2 else ok(body))
    try:
        proc = run_cli(task, *openai(server, "--concurrency", "1", "--max-failures", "3"))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert server.chats == len(REPORTS) + 2
    assert [p["value"] for p in predictions(task)] == [11, 22, 33, 44]
    assert all(r["status"] == "success" for r in records(task))


def test_http_429_waits_for_retry_after(task):
    times: list[float] = []

    def script(n, body):
        times.append(time.monotonic())
        if n == 0:
            return Reply(status=429, payload={"error": "slow down"}, headers={"Retry-After": "1"})
        return ok(body)

    server = serve(script)
    try:
        proc = run_cli(task, *openai(server, "--concurrency", "1"))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    bodies = server.chat_bodies
    retry = next(n for n in range(1, len(bodies)) if bodies[n] == bodies[0])
    assert times[retry] - times[0] >= 0.95  # our own first backoff would be 0.25–0.75 s
    assert [p["value"] for p in predictions(task)] == [11, 22, 33, 44]


def test_server_failing_every_request_stops_with_exit_1_and_no_fake_records(task):
    server = serve(lambda n, body: Reply(status=500, payload={"error": "model crashed"}))
    started = time.monotonic()
    try:
        proc = run_cli(task, *openai(server, "--max-failures", "2"))
    finally:
        server.stop()
    assert proc.returncode == 1
    lines = error_lines(proc)
    assert len(lines) == 1 and "HTTP 500" in lines[0] and "model crashed" in lines[0], lines
    assert "Traceback" not in proc.stderr
    assert records(task) == []  # nothing was answered, so nothing is recorded
    assert time.monotonic() - started < 30


def test_one_row_the_server_cannot_answer_fails_alone(task):
    # the shortest report ("44") goes last; the server errors on it every time
    server = serve(
        lambda n, body: Reply(status=500) if "\n44" in body["messages"][-1]["content"] else ok(body)
    )
    try:
        proc = run_cli(task, *openai(server, "--concurrency", "1", "--max-failures", "2"))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    by_row = {r["row"]: r for r in records(task)}
    assert by_row[3]["status"] == "failure" and "HTTP 500" in by_row[3]["error"]
    assert "2 attempts" in by_row[3]["error"]
    assert [by_row[i]["fields"]["value"] for i in range(3)] == [11, 22, 33]


def test_server_slower_than_timeout_stops_the_run(task):
    server = serve(lambda n, body: Reply(**{**ok(body).__dict__, "delay": 2.0}))
    started = time.monotonic()
    try:
        proc = run_cli(task, *openai(server, "--timeout", "0.5", "--max-failures", "2"))
    finally:
        server.stop()
    assert proc.returncode == 1
    assert any("--timeout 0.5 s" in line for line in error_lines(proc)), proc.stderr
    assert time.monotonic() - started < 20
    assert records(task) == []


def test_one_slow_row_times_out_alone(tmp_path):
    reports = ["slow: the value is 99 and this is the longest report", "value 1", "value 2"]
    task = write_task(tmp_path, reports)

    def script(n, body):
        reply = ok(body)
        reply.delay = 3.0 if "slow" in body["messages"][-1]["content"] else 0.0
        return reply

    server = serve(script)
    try:
        proc = run_cli(task, *openai(server, "--timeout", "1", "--max-failures", "2"))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    by_row = {r["row"]: r for r in records(task)}
    assert by_row[0]["status"] == "failure"
    assert "no answer within --timeout 1 s" in by_row[0]["error"]
    assert [by_row[1]["fields"]["value"], by_row[2]["fields"]["value"]] == [1, 2]


def test_garbage_instead_of_json_stops_the_run(task):
    server = serve(lambda n, body: Reply(raw=b"<html>proxy error</html>", content_type="text/html"))
    try:
        proc = run_cli(task, *openai(server, "--max-failures", "2"))
    finally:
        server.stop()
    assert proc.returncode == 1
    lines = error_lines(proc)
    assert len(lines) == 1 and "not JSON" in lines[0] and "text/html" in lines[0], lines
    assert records(task) == []


def test_garbage_text_from_the_model_is_a_failed_row_not_an_engine_error(task):
    server = serve(lambda n, body: Reply(payload=completion("I think it is about seven.")))
    try:
        proc = run_cli(task, *openai(server))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    recs = records(task)
    assert len(recs) == len(REPORTS)
    for rec in recs:
        assert rec["status"] == "failure" and rec["fields"] == {"value": None}
        assert "invalid answer after repair" in rec["error"]
        assert rec["raw_output"] == "I think it is about seven."
    assert server.chats == 2 * len(REPORTS)  # the answer, then one repair each


def test_dropped_connections_are_retried(task):
    server = serve(lambda n, body: Reply(drop=True) if n < 2 else ok(body))
    try:
        proc = run_cli(task, *openai(server, "--concurrency", "1"))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert [p["value"] for p in predictions(task)] == [11, 22, 33, 44]


def test_killed_server_exit_1_then_resume_without_recomputing(tmp_path):
    reports = [f"value {n}" for n in range(10, 22)]
    task = write_task(tmp_path, reports)
    port = free_port()
    fixture = str(TESTS / "fixtures" / "fault_server.py")

    def start_server(pace: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, fixture, str(port), pace],
            stdout=subprocess.PIPE, text=True, cwd=TESTS,
        )  # fmt: skip
        assert "fault server at" in proc.stdout.readline()
        return proc

    url = f"http://127.0.0.1:{port}/v1"
    args = run_args(task, "--engine", "openai", "--base-url", url, "--concurrency", "1",
                    "--max-failures", "3")  # fmt: skip
    server = start_server("0.3")
    from tests.engines.helpers import cli_env

    run = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(records(task)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        server.wait()
        out, err = run.communicate(timeout=60)
    finally:
        server.kill()
        run.kill()
    assert run.returncode == 1, err
    assert "run the same command again to resume" in err
    done = records(task)
    assert 3 <= len(done) < len(reports)
    assert all(r["status"] == "success" for r in done)
    manifest = json.loads((run_dir(task) / "manifest.json").read_text())
    assert manifest["status"] != "complete"

    server = start_server("0")
    try:
        again = subprocess.run(args, env=cli_env(), capture_output=True, text=True, timeout=60)
    finally:
        server.kill()
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} reused" in again.stdout
    rows = [r["row"] for r in records(task)]
    assert sorted(rows) == list(range(len(reports)))  # each row once: nothing recomputed
    assert [p["value"] for p in predictions(task)] == list(range(10, 22))


def test_unreachable_server_is_exit_1_in_one_line(task):
    proc = run_cli(task, "--engine", "openai", "--base-url", f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 1
    lines = error_lines(proc)
    assert len(lines) == 1 and "cannot reach" in lines[0] and "connection refused" in lines[0]


@pytest.mark.parametrize(
    "server_kw, extra, message",
    [
        ({}, ("--model", "nope"), "model 'nope' is not on the server"),
        ({"models_status": 401}, (), "refused the API key"),
        ({"models_status": 404}, (), "is not an OpenAI-compatible server"),
    ],
)
def test_config_problems_are_exit_2_in_one_line(task, server_kw, extra, message):
    server = FaultServer(**server_kw).start()
    try:
        proc = run_cli(task, *openai(server, *extra))
    finally:
        server.stop()
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert server.chats == 0
