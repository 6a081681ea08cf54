"""One real local Ray cluster for these tests, started on 127.0.0.1 and stopped after.

`ray start --head --block` in a process group of its own, in Ray's single-machine mode
(node address 127.0.0.1, every service on the loopback), with token authentication on
(a fresh token in a private file; Ray ≥ 2.59 would turn it on for local clusters
anyway, so the tests run the way users will), no dashboard, no usage statistics, its
own temporary folder (other Ray users on the machine are not touched), and the checkout
on PYTHONPATH so the workers can import the test engines. The test process joins it as
a driver; CLI runs under test get the same environment.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import cli_environment
from tests.paths import ROOT

SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
STARTUP_TIMEOUT = 90.0

if importlib.util.find_spec("ray") is None:
    pytest.skip("the 'ray' extra is not installed", allow_module_level=True)


@dataclass
class Cluster:
    address: str
    env: dict[str, str]  # for drivers started by the tests (the CLI)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="package")  # started once, stopped when tests/ray is done
def ray_cluster() -> Cluster:
    temp = Path(tempfile.mkdtemp(prefix="cx-ray-"))  # short: Ray's socket paths must fit
    token = temp / "token"
    token.write_text(secrets.token_hex(16))
    token.chmod(0o600)
    env = {
        **cli_environment(),
        SINGLE_MACHINE: "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    ray_cmd = Path(sys.executable).parent / "ray"
    log = (temp / "head.log").open("w")
    head = subprocess.Popen(
        [ray_cmd, "start", "--head", "--block", "--port", str(port), "--num-cpus", "4"]
        + ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # This process joins as a driver too. Ray reads its mode and token settings once, when
    # it is imported, so nothing in the test process may import ray before this point.
    assert "ray" not in sys.modules, "ray was imported before the test cluster's settings"
    saved = {k: os.environ.get(k) for k in env if k.startswith("RAY_")}
    os.environ.update({k: env[k] for k in saved})
    import ray

    try:
        join(ray, address, head, temp)
        yield Cluster(address, env)
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop(head)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def join(ray, address: str, head: subprocess.Popen, temp: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited: {(temp / 'head.log').read_text()[-2000:]}")
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def stop(head: subprocess.Popen) -> None:
    """SIGTERM to the head's process group, then SIGKILL (Ray would drain for 30 s)."""
    try:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait(timeout=10)
