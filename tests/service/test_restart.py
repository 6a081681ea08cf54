"""Jobs survive the service: kill -9 during a job, start it again, the job completes with
every row exactly once; a cancelled job stays cancelled; half-made uploads vanish."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

from tests.service.helpers import (
    TASK,
    ServiceProcess,
    ndjson,
    wait_for_job,
    write_csv,
    write_keys,
    write_tasks,
)

ROWS = 300


def checkpoint_rows(path) -> list[int]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_bytes().splitlines(keepends=True):
        if line.endswith(b"\n"):
            rows.append(json.loads(line)["row"])
    return rows


def test_kill_9_mid_job_then_restart_completes_every_row_once(tmp_path):
    tasks = write_tasks(tmp_path)
    keys_file, keys = write_keys(tmp_path)
    jobs = tmp_path / "jobs"
    args = ("--task-dir", str(tasks), "--jobs-dir", str(jobs), "--api-keys", str(keys_file),
            "--job-workers", "1")  # fmt: skip
    env = {**os.environ, "FAKE_DELAY_S": "0.03"}  # ~2 s of work: time to kill it mid-way
    texts = [f"rij{n} " + "x " * (n % 13) for n in range(ROWS)]
    csv_bytes = write_csv(tmp_path / "reports.csv", texts).read_bytes()

    service = ServiceProcess(tmp_path, *args, env=env)
    with service.client(keys["all"]) as client:
        job = client.post("/v1/jobs", params={"task": TASK}, content=csv_bytes,
                          headers={"content-type": "text/csv"}).json()  # fmt: skip
        doomed = client.post("/v1/jobs", json={"task": TASK, "texts": ["a", "b"]}).json()
        assert client.delete(doomed["status_url"]).json()["state"] == "cancelled"
        checkpoint = jobs / job["job_id"] / "run" / f"{TASK}-run0" / "records.jsonl"
        deadline = time.monotonic() + 60
        while len(checkpoint_rows(checkpoint)) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        early = client.get(job["records_url"]).headers["x-next-offset"]
    service.kill()
    before = checkpoint_rows(checkpoint)
    assert 40 <= len(before) < ROWS, "the job must be killed while it runs"
    (jobs / ".incoming-0123456789abcdef").mkdir()  # an upload the kill cut short

    with ServiceProcess(tmp_path, *args) as again, again.client(keys["all"]) as client:
        status = wait_for_job(client, job["job_id"])
        assert status["state"] == "complete" and status["done"] == ROWS
        # resumable from where a client had got to before the kill
        rest = ndjson(client.get(job["records_url"], params={"offset": early}))
        records = ndjson(client.get(job["records_url"]))
        assert client.get(doomed["status_url"]).json()["state"] == "cancelled"
        jobs_listed = [j["job_id"] for j in client.get("/v1/jobs").json()["jobs"]]
    assert [x["row"] for x in records] == list(range(ROWS))
    assert [x["id"] for x in records] == [f"{n:03d}" for n in range(ROWS)]
    assert [x["fields"]["woord"] for x in records] == [f"rij{n}" for n in range(ROWS)]
    assert [x["row"] for x in rest] == list(range(int(early), ROWS))
    after = checkpoint_rows(checkpoint)
    assert after[: len(before)] == before  # nothing that was saved was lost or redone
    assert Counter(after) == Counter(range(ROWS))  # every row exactly once
    predictions = json.loads((checkpoint.parent / "nlp-predictions-dataset.json").read_text())
    assert [p["uid"] for p in predictions] == [f"{n:03d}" for n in range(ROWS)]
    assert not (jobs / ".incoming-0123456789abcdef").exists()
    assert set(jobs_listed) == {job["job_id"], doomed["job_id"]}
    assert not (jobs / doomed["job_id"] / "run").exists()  # queued behind, cancelled, never run
