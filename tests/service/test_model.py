"""End to end with the real bundled model: `clinextract service` on 127.0.0.1 with a keys
file, the bundled example task; a sync request, then a job over the example's CSV that is
killed with -9, resumed by a restart and completed with every row exactly once."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter

import pytest

from clinextract.records import text_sha
from tests.paths import EXAMPLES
from tests.service.helpers import ServiceProcess, ndjson, wait_for_job, write_keys

pytestmark = pytest.mark.model

TASK = "Task001_dutch_radiology"
FIELDS = {"onderzoek", "nodus_aanwezig", "grootste_nodus_mm", "follow_up_geadviseerd",
          "bevindingen"}  # fmt: skip
ROWS = 4


def test_real_model_sync_and_a_job_through_kill_9(tmp_path):
    with (EXAMPLES / "data" / "radiology_reports.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    upload = tmp_path / "reports.csv"
    with upload.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[: ROWS + 1])
    reports = [dict(zip(rows[0], r, strict=True)) for r in rows[1 : ROWS + 1]]
    keys_file, keys = write_keys(tmp_path)
    jobs = tmp_path / "jobs"
    args = (
        "--task-dir", str(EXAMPLES / "tasks"), "--example-dir", str(EXAMPLES / "data"),
        "--jobs-dir", str(jobs), "--api-keys", str(keys_file),
        "--num-examples", "2", "--parallel", "2", "--max-tokens", "160",
    )  # fmt: skip
    service = ServiceProcess(tmp_path, *args, fake=False, timeout=300)
    with service.client(keys["all"]) as client:
        assert client.get("/v1/tasks").json()["tasks"][0]["name"] == TASK
        texts = [r["verslag"] for r in reports[:1]]
        sync = client.post("/v1/extract", json={"task": TASK, "texts": texts}, timeout=300)
        assert sync.status_code == 200, sync.text
        records = sync.json()["records"]
        assert [x["text_sha"] for x in records] == [text_sha(t) for t in texts]
        for record in records:
            assert set(record["fields"]) == FIELDS
            assert record["status"] in ("success", "partial", "failure")
            assert record["prompt_tokens"] > 0
            assert isinstance(record["evidence"], dict) and isinstance(record["confidence"], dict)

        job = client.post(
            "/v1/jobs", params={"task": TASK}, content=upload.read_bytes(),
            headers={"content-type": "text/csv"},
        ).json()  # fmt: skip
        checkpoint = jobs / job["job_id"] / "run" / f"{TASK}-run0" / "records.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if checkpoint.exists() and checkpoint.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.1)
    service.kill()
    before = checkpoint.read_bytes().count(b"\n")
    assert 1 <= before < ROWS, "the job must be killed while it runs"

    with ServiceProcess(tmp_path, *args, fake=False, timeout=300) as again:
        with again.client(keys["all"]) as client:
            status = wait_for_job(client, job["job_id"], timeout=600)
            records = ndjson(client.get(job["records_url"]))
    assert status["state"] == "complete" and status["done"] == ROWS
    assert [x["id"] for x in records] == [r["uid"] for r in reports]
    assert [x["text_sha"] for x in records] == [text_sha(r["verslag"]) for r in reports]
    lines = [json.loads(x) for x in checkpoint.read_text(encoding="utf-8").splitlines()]
    assert Counter(x["row"] for x in lines) == Counter(range(ROWS))
    assert sum(x["status"] == "success" for x in records) >= ROWS // 2
