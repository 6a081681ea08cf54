"""Helpers for the service tests: a task folder, a keys file, and the service as a real
uvicorn process on 127.0.0.1 (with the fake engine, or the real model)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from clinextract.service.keys import add_key
from tests.paths import ROOT
from tests.processes import ServerProcess

TASK = "Task001_fake"  # answers computed from the report by the fake engine
OTHER = "Task002_other"  # the same, for the per-key task lists
FAKE_SCHEMA = {"lengte": {"type": "int"}, "woord": {"type": "str"}}


def write_tasks(root: Path) -> Path:
    """<root>/tasks with two fake tasks (text column `verslag`, id column `uid`)."""
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    for name in (TASK, OTHER):
        spec = {
            "Description": "Tel de letters.",
            "Input_Field": "verslag",
            "Id_Field": "uid",
            "Parser_Format": FAKE_SCHEMA,
        }
        (tasks / f"{name}.json").write_text(json.dumps(spec), encoding="utf-8")
    return tasks


def write_keys(root: Path) -> tuple[Path, dict[str, str]]:
    """A keys file with `all` (every task) and `one` (only TASK); returns (file, keys)."""
    path = root / "keys.json"
    keys = {"all": add_key(path, "all"), "one": add_key(path, "one", [TASK])}
    return path, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class ServiceProcess(ServerProcess):
    """The service in a subprocess; `url` once it listens. stderr goes to a file (a pipe
    nobody reads would fill up and stall the server)."""

    FAKE = [sys.executable, "-m", "tests.service.fake_service"]
    REAL = [sys.executable, "-m", "clinextract.cli", "service"]

    def __init__(self, root: Path, *args: str, fake: bool = True, command=None, env=None,
                 timeout: float = 120):  # fmt: skip
        """`fake`: with tests/service/fake_service.py's engine, else the real model;
        `command`: another way to start it (the benchmark's fake engine)."""
        self.root = root
        self.log = root / f"service-{time.monotonic_ns()}.log"
        cmd = [*(command or (self.FAKE if fake else self.REAL)), "--port", "0", *args]
        with self.log.open("w") as err:
            super().__init__(cmd, stderr=err, cwd=ROOT, env=env)
        found = self.wait_for(r"service on (http://\S+) ", timeout)
        if found is None:
            raise RuntimeError(f"the service did not start: {self.log.read_text()}")
        self.url = found.group(1)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers=bearer(key) if key else {}, **{"timeout": 60, **kw}
        )

    def stop(self, timeout: float = 60) -> int:
        return super().stop(timeout)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["state"] in ("complete", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def write_csv(path: Path, texts: list[str]) -> Path:
    """uid,verslag rows (uids 000, 001, ...), texts quoted."""
    lines = ["uid,verslag"] + [f'{n:03d},"{t}"' for n, t in enumerate(texts)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
