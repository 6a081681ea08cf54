"""--executor ray and clinextract.ray on a real local Ray cluster (conftest.py).

Units: the worker pool with fake engines in the workers (order, blocks, a killed worker,
every worker gone). Integration (`model`): the CLI with the real model and 2 workers on
the test cluster against a single-process run at --parallel 1, with a killed driver that
resumes and a killed worker; `extract_dataset` over a Ray Dataset.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from clinextract.api import extract
from clinextract.engines.base import Request
from clinextract.engines.ray_pool import RayPoolEngine
from clinextract.errors import ConfigError, EngineError
from clinextract.settings import Settings
from tests.conftest import cli_environment
from tests.paths import EXAMPLES
from tests.ray.helpers import echo_engine, refusing_engine
from tests.test_integration import example_subset

TASK = EXAMPLES / "tasks" / "Task001_dutch_radiology.json"


class Word(BaseModel):
    woord: str
    pid: int


def request(text: str) -> Request:
    return Request([{"role": "user", "content": f"Verslag:\n{text}"}], None, 16)


def pool(workers: int = 2, slots: int = 2) -> RayPoolEngine:
    settings = Settings(executor="ray", workers=workers, parallel=slots)
    return RayPoolEngine(settings, make_engine=echo_engine)


def answers(futures, timeout: float = 60.0) -> list[dict]:
    return [json.loads(f.result(timeout=timeout).text) for f in futures]


# --- units: the pool, fake engines in the workers ------------------------------------------


def test_pool_runs_the_pipeline_in_input_order_over_every_worker(ray_cluster):
    with pool(workers=2, slots=3) as engine:
        described = engine.describe()
        assert engine.capacity == 6  # 2 workers × 3 slots: the pipeline keeps all busy
        assert described["executor"] == "ray" and described["model"] == "fake-model"
        assert [w["worker"] for w in described["ray"]["workers"]] == [0, 1]
        assert {w["node"] for w in described["ray"]["workers"]} == {"127.0.0.1"}
        assert described["ray"]["nodes"] == 1
        texts = [f"w{i:02d} verslag" for i in range(40)]
        df = extract(texts, Word, engine=engine)
    assert list(df["woord"]) == [t.split()[0] for t in texts]  # input order
    assert set(df["status"]) == {"success"}
    pids = set(df["pid"])
    assert pids == {w["pid"] for w in described["ray"]["workers"]}  # both did work


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(ray_cluster, caplog):
    with pool(workers=2, slots=2) as engine:
        victim = engine.describe()["ray"]["workers"][0]["pid"]
        futures = [engine.submit(request(f"r{i}")) for i in range(60)]
        while sum(f.done() for f in futures) < 8:
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)  # with requests in flight on it
        got = answers(futures)
    assert [a["woord"] for a in got] == [f"r{i}" for i in range(60)]  # each its own answer
    pids = {a["pid"] for a in got}
    assert victim in pids and pids - {victim}  # it answered some, the others the rest
    assert "Ray worker 0 on 127.0.0.1 stopped (ActorUnavailableError)" in caplog.text


def test_every_worker_gone_is_an_engine_error_for_every_waiting_request(ray_cluster):
    import ray

    engine = pool(workers=2, slots=1)
    try:
        futures = [engine.submit(request(f"r{i}")) for i in range(30)]
        while not futures[0].done():
            time.sleep(0.01)
        for worker in engine._workers:
            ray.kill(worker.handle, no_restart=True)
        deadline = time.monotonic() + 60
        while not all(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.05)
        errors = [f.exception() for f in futures if f.exception() is not None]
        assert errors and all(isinstance(e, EngineError) for e in errors)
        assert "all 2 Ray workers died" in str(errors[0])
        assert isinstance(engine.submit(request("late")).exception(timeout=5), EngineError)
    finally:
        engine.close()


def test_more_workers_than_the_cluster_has_cpus_is_one_config_line(ray_cluster):
    with pytest.raises(ConfigError, match=r"--workers 9 × --worker-cpus 1 needs 9 CPUs"):
        pool(workers=9)


def test_a_worker_that_cannot_build_its_engine_is_one_line_of_its_kind(ray_cluster):
    settings = Settings(executor="ray", workers=2, parallel=1)
    with pytest.raises(ConfigError) as caught:
        RayPoolEngine(settings, make_engine=refusing_engine)
    message = str(caught.value)
    assert re.fullmatch(r"Ray worker [01] on 127\.0\.0\.1: model file not found: \S+", message)


def test_a_cluster_that_is_not_there_is_one_line_and_exit_1(tmp_path, cli_env):
    from tests.ray.conftest import free_port

    nobody = f"127.0.0.1:{free_port()}"
    args = [TASK, "--data-dir", EXAMPLES / "data", "--example-dir", EXAMPLES / "data"]
    args += ["--output-dir", tmp_path]
    proc = subprocess.run(
        ["clinextract", "run", *map(str, args), "--executor", "ray", "--ray-address", nobody],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"engine error: cannot reach the Ray cluster at {nobody}:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_the_ray_extra_executor_ray_is_one_line_and_exit_2(tmp_path, cli_env):
    blocked = "import sys; sys.modules['ray'] = None; from clinextract.cli import main; main()"
    args = [TASK, "--data-dir", EXAMPLES / "data", "--example-dir", EXAMPLES / "data"]
    args += ["--output-dir", tmp_path, "--executor", "ray"]
    proc = subprocess.run(
        [sys.executable, "-c", blocked, "run", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "needs the 'ray' extra: pip install 'clinextract[ray]'" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- integration: the CLI with the real model on the test cluster --------------------------

ROWS = 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The single-process run at --parallel 1 that every Ray run must equal."""
    home = tmp_path_factory.mktemp("reference")
    data = example_subset(home, ROWS)
    args = run_args(data, "out")
    proc = subprocess.run(["clinextract", "run", *args], cwd=home, env=cli_environment(), **CAPTURE)
    assert proc.returncode == 0, proc.stderr
    folder = home / "out" / "run" / RUN
    return {
        "data": data,
        "predictions": json.loads((folder / "nlp-predictions-dataset.json").read_text()),
        "manifest": json.loads((folder / "manifest.json").read_text()),
    }


RUN = "Task001_dutch_radiology-run0"
CAPTURE = {"capture_output": True, "text": True, "timeout": 900}


def run_args(data: Path, out: str, *extra: str) -> list[str]:
    args = [TASK, "--data-dir", data, "--example-dir", data, "--output-dir", out]
    return [*map(str, args), "--num-examples", "2", "--parallel", "1", "--threads", "1", *extra]


def on_ray(cluster, data: Path) -> list[str]:
    return run_args(data, "out", "--executor", "ray", "--ray-address", cluster.address)


def start(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        ["clinextract", "run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(check, proc: subprocess.Popen, timeout: float = 600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert proc.poll() is None, f"the run ended first: {proc.communicate()[1][-2000:]}"
        time.sleep(0.2)
    raise AssertionError("timed out")


def input_columns(data: Path) -> list[str]:
    return (data / "radiology_reports.csv").read_text().splitlines()[0].split(",")


def records_of(folder: Path) -> list[dict]:
    path = folder / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def assert_same_as_reference(folder: Path, reference: dict) -> None:
    rows = [r["row"] for r in records_of(folder)]
    assert sorted(rows) == list(range(ROWS))  # every row exactly once in the checkpoint
    out = json.loads((folder / "nlp-predictions-dataset.json").read_text())
    assert out == reference["predictions"]  # input order, and the very same answers
    engine = json.loads((folder / "manifest.json").read_text())["engine"]
    assert engine["executor"] == "ray" and engine["ray"]["nodes"] == 1
    assert [w["worker"] for w in engine["ray"]["workers"]] == [0, 1]
    assert engine["model_sha256"] == reference["manifest"]["engine"]["model_sha256"]


@pytest.mark.model
def test_model_two_workers_killed_driver_resumes_to_the_single_process_records(
    ray_cluster, reference, tmp_path
):
    args = on_ray(ray_cluster, reference["data"])
    folder = tmp_path / "out" / "run" / RUN
    proc = start(args, tmp_path, ray_cluster.env)
    wait_for(lambda: len(records_of(folder)) >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, mid-run
    proc.wait(timeout=30)
    before = records_of(folder)
    assert 2 <= len(before) < ROWS

    again = subprocess.run(
        ["clinextract", "run", *args], cwd=tmp_path, env=ray_cluster.env, **CAPTURE
    )
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} reused" in again.stdout
    assert records_of(folder)[: len(before)] == before  # finished records untouched
    assert_same_as_reference(folder, reference)


@pytest.mark.model
def test_model_a_worker_killed_mid_run_every_row_once_same_records(
    ray_cluster, reference, tmp_path
):
    folder = tmp_path / "out" / "run" / RUN
    proc = start(on_ray(ray_cluster, reference["data"]), tmp_path, ray_cluster.env)
    manifest = folder / "manifest.json"
    wait_for(lambda: manifest.exists() and records_of(folder), proc)
    victim = json.loads(manifest.read_text())["engine"]["ray"]["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)  # a worker process of the test cluster, mid-run
    _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    assert "Ray worker 0 on 127.0.0.1 stopped" in stderr
    assert_same_as_reference(folder, reference)


@pytest.mark.model
def test_model_extract_dataset_maps_a_ray_dataset_to_records(ray_cluster, reference):
    import ray

    from clinextract.ray import extract_dataset

    rows = reference["predictions"]
    columns = input_columns(reference["data"])
    inputs = [{c: r[c] for c in columns} for r in rows]
    settings = {"data_dir": reference["data"], "example_dir": reference["data"]}
    out = extract_dataset(
        ray.data.from_items(inputs),
        TASK,
        workers=1,
        parallel=1,
        num_examples=2,
        batch_size=2,
        **settings,
    ).take_all()
    assert sorted(r["uid"] for r in out) == sorted(r["uid"] for r in inputs)
    by_uid = {r["uid"]: r for r in out}
    for want in rows:  # the same answers as `clinextract run` at --parallel 1
        assert by_uid[want["uid"]] == want


def test_each_worker_gets_its_own_server_and_its_node_for_the_placeholder():
    from clinextract.engines.ray_worker import worker_settings

    two = Settings(engine="openai", base_url=["http://a:8000/v1", "http://b:8000/v1"])
    assert [worker_settings(two, i, "10.0.0.5").base_url for i in range(3)] == [
        ["http://a:8000/v1"],
        ["http://b:8000/v1"],
        ["http://a:8000/v1"],
    ]
    per_node = Settings(engine="openai", base_url=["http://{node}:8000/v1"], worker_cpus=3)
    own = worker_settings(per_node.model_copy(update={"executor": "ray"}), 7, "10.0.0.5")
    assert own.base_url == ["http://10.0.0.5:8000/v1"]
    assert own.executor == "local" and own.threads == 3  # the worker's engine runs there
