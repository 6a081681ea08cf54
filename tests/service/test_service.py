"""The service's HTTP surface against a real uvicorn on 127.0.0.1 (fake engine): keys,
limits, JSON errors, sync extraction and jobs."""

from __future__ import annotations

import json
import re

import httpx

from clinextract.data import RecordsSource
from clinextract.pipeline import run_task
from clinextract.settings import Settings
from clinextract.store import RunFolder
from clinextract.task import load_task
from tests.fakes import FakeEngine
from tests.service.fake_service import answer
from tests.service.helpers import OTHER, TASK, ndjson, wait_for_job, write_csv

SECRET = "GEHEIM-verslag-7731"  # report text that must never come back in an error


def test_health_needs_no_key_but_v1_does(keyed):
    service, keys = keyed
    with service.client() as anon:
        assert anon.get("/health").json()["status"] == "ok"
        for method, path in [("GET", "/v1/tasks"), ("POST", "/v1/extract"), ("GET", "/v1/jobs")]:
            r = anon.request(method, path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["code"] == "unauthorized"
    for header in ("Bearer nope", f"Basic {keys['all']}", "Bearer", keys["all"]):
        r = httpx.get(f"{service.url}/v1/tasks", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_a_key_sees_and_uses_only_its_tasks(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as every, service.client(keys["one"]) as one:
        assert [t["name"] for t in every.get("/v1/tasks").json()["tasks"]] == [TASK, OTHER]
        assert [t["name"] for t in one.get("/v1/tasks").json()["tasks"]] == [TASK]
        assert one.get(f"/v1/tasks/{OTHER}").status_code == 403
        r = one.post("/v1/extract", json={"task": OTHER, "texts": ["a b"]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert one.post("/v1/extract", json={"task": TASK, "texts": ["a b"]}).status_code == 200


def test_task_description_and_schema(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as client:
        task = client.get(f"/v1/tasks/{TASK}").json()
        assert task["name"] == TASK and task["input_field"] == "verslag"
        assert task["fields"] == ["lengte", "woord"]
        assert set(task["schema"]["properties"]) == {"lengte", "woord"}
        for name in ("Task003", "..%2Ftasks%2FTask001_fake", "%2e%2e%2fkeys", "Task001_fake.json"):
            assert client.get(f"/v1/tasks/{name}").status_code == 404, name
        r = client.post("/v1/extract", json={"task": "../../etc/passwd", "texts": ["x"]})
        assert r.status_code == 404


def test_sync_extract_returns_the_pipelines_records_in_order(keyed, tmp_path):
    service, keys = keyed
    texts = [f"woord{n} " + "x " * (n * 3 % 7) for n in range(8)]
    with service.client(keys["all"]) as client:
        r = client.post("/v1/extract", json={"task": TASK, "texts": texts})
    assert r.status_code == 200
    records = r.json()["records"]
    # the same rows through the pipeline in this process, read back the same way
    settings = Settings(output_dir=tmp_path, task_dir=tmp_path)
    task = load_task(service.root / "tasks" / f"{TASK}.json", settings)
    [summary] = run_task(
        task,
        settings,
        source=RecordsSource([{"text": t} for t in texts], "text"),
        engine=FakeEngine(answer),
    )
    expected = RunFolder(summary.run_dir).records()
    assert [x["row"] for x in records] == list(range(8))
    for got, want in zip(records, [expected[n] for n in range(8)], strict=True):
        assert "config" not in got
        for key in ("id", "text_sha", "status", "error", "fields", "raw_output", "field_errors",
                    "confidence", "evidence", "needs_review"):  # fmt: skip
            assert got.get(key) == want.get(key), key
    assert [x["fields"]["woord"] for x in records] == [f"woord{n}" for n in range(8)]
    for record, text in zip(records, texts, strict=True):  # spans into the text as sent
        [span] = record["evidence"]["woord"]
        assert span["match"] == "exact" and text[span["start"] : span["end"]] == span["text"]


def test_sync_records_carry_their_ids_and_the_tasks_text_column(keyed):
    service, keys = keyed
    rows = [{"uid": "007", "verslag": "zeven"}, {"uid": "b", "verslag": ""}]
    body = {"task": TASK, "records": rows}
    with service.client(keys["all"]) as client:
        records = client.post("/v1/extract", json=body).json()["records"]
        plain = client.post(
            "/v1/extract", json={"task": TASK, "records": [{"id": 5, "text": "vijf"}]}
        ).json()["records"]
    assert [(x["id"], x["status"]) for x in records] == [("007", "success"), ("b", "failure")]
    assert records[1]["error"] == "empty input text"
    assert plain[0]["id"] == "5" and plain[0]["fields"] == {"lengte": 4, "woord": "vijf"}


def test_limits_and_malformed_bodies_are_json_errors_without_report_text(keyed):
    service, keys = keyed
    big = json.dumps({"task": TASK, "texts": [SECRET * 5000]})
    cases = [
        (413, dict(content=big, headers={"content-type": "application/json"})),
        (413, dict(content=iter([big.encode()]), headers={"content-type": "application/json"})),
        (422, dict(content=b'{"task": "' + SECRET.encode() + b'", "texts": [', headers={})),
        (422, dict(json={"task": TASK, "texts": [SECRET] * 9})),  # over --max-sync 8
        (422, dict(json={"task": TASK, "texts": [SECRET * 200]})),  # over --max-chars 2000
        (422, dict(json={"task": TASK, "texts": [SECRET], "records": [{"text": SECRET}]})),
        (422, dict(json={"task": TASK, "texts": [1, {"a": SECRET}]})),
        (422, dict(json={"task": TASK, "texts": [SECRET], "secret": SECRET})),
        (422, dict(json={"task": TASK, "texts": [SECRET], "options": {"max_tokens": 10**6}})),
        (422, dict(json={"task": TASK, "texts": []})),
        (422, dict(json=[SECRET])),
    ]
    with service.client(keys["all"]) as client:
        for status, request in cases:
            r = client.post("/v1/extract", **request)
            assert r.status_code == status, (r.status_code, r.text[:300])
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"]["status"] == status
            assert SECRET not in r.text
            assert "Traceback" not in r.text


def test_no_cors_and_a_docs_page_that_loads_nothing_from_elsewhere(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as client:
        preflight = client.options(
            "/v1/extract",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        got = client.get("/v1/tasks", headers={"Origin": "https://evil.example"})
        docs = client.get("/docs")
        spec = client.get("/openapi.json").json()
    for response in (preflight, got):
        assert not any(h.startswith("access-control-") for h in response.headers)
    assert docs.status_code == 200
    assert not re.findall(r"(?:src|href|url)\s*[=:]\s*['\"]?(?:https?:)?//", docs.text)
    assert {"/v1/extract", "/v1/jobs", "/v1/jobs/{job_id}/records", "/v1/tasks"} <= set(
        spec["paths"]
    )


def test_a_csv_job_runs_and_streams_its_records_from_any_offset(keyed, tmp_path):
    service, keys = keyed
    texts = [f"rij{n} tekst" for n in range(25)] + [""]
    csv_bytes = write_csv(tmp_path / "r.csv", texts).read_bytes()
    with service.client(keys["all"]) as client:
        r = client.post(
            "/v1/jobs", params={"task": TASK}, content=csv_bytes,
            headers={"content-type": "text/csv"},
        )  # fmt: skip
        assert r.status_code == 202
        job = r.json()
        assert job["rows"] == 26 and job["state"] in ("queued", "running", "complete")
        status = wait_for_job(client, job["job_id"])
        assert status["state"] == "complete" and status["done"] == 26
        assert status["counts"] == {"success": 25, "failure": 1}
        whole = client.get(job["records_url"])
        assert whole.headers["x-next-offset"] == "26"
        records = ndjson(whole)
        assert [x["row"] for x in records] == list(range(26))
        assert [x["id"] for x in records] == [f"{n:03d}" for n in range(26)]
        assert [x["fields"]["woord"] for x in records[:25]] == [f"rij{n}" for n in range(25)]
        part = client.get(job["records_url"], params={"offset": 20, "limit": 3})
        assert [x["row"] for x in ndjson(part)] == [20, 21, 22]
        assert part.headers["x-next-offset"] == "23"
        assert ndjson(client.get(job["records_url"], params={"offset": 26})) == []
        assert client.delete(job["status_url"]).status_code == 409  # complete: nothing to stop
    with service.client(keys["one"]) as other:
        assert other.get(job["status_url"]).status_code == 404  # another key's job
        assert other.get(job["records_url"]).status_code == 404


def test_a_json_job_and_its_purge(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as client:
        body = {"task": TASK, "records": [{"uid": f"u{n}", "verslag": f"w{n} x"} for n in range(5)]}
        job = client.post("/v1/jobs", json=body).json()
        assert wait_for_job(client, job["job_id"])["state"] == "complete"
        assert [x["id"] for x in ndjson(client.get(job["records_url"]))] == [
            f"u{n}" for n in range(5)
        ]
        folder = service.root / "jobs" / job["job_id"]
        assert (folder / "input.jsonl").exists()
        assert client.delete(job["status_url"], params={"purge": "true"}).json()["state"] == (
            "deleted"
        )
        assert not folder.exists()
        assert client.get(job["status_url"]).status_code == 404


def test_bad_uploads_are_refused_before_a_job_exists(keyed):
    service, keys = keyed
    before = sorted(p.name for p in (service.root / "jobs").iterdir())
    ragged = b'uid,verslag\n1,"a"\n2,"b",extra\n'
    too_long = ("uid,verslag\n1," + SECRET * 200 + "\n").encode()
    no_column = b"uid,tekst\n1,a\n"
    with service.client(keys["all"]) as client:
        for content, kind, params in [
            (ragged, "text/csv", {"task": TASK}),
            (too_long, "text/csv", {"task": TASK}),
            (no_column, "text/csv", {"task": TASK}),
            (ragged, "text/csv", {}),
            (b'{"verslag": "a"}\nnot json\n', "application/x-ndjson", {"task": TASK}),
            (ragged, "text/csv", {"task": TASK, "max_tokens": "-1"}),
        ]:
            r = client.post("/v1/jobs", params=params, content=content,
                            headers={"content-type": kind})  # fmt: skip
            assert r.status_code == 422, r.text
            assert SECRET not in r.text and str(service.root) not in r.text
        r = client.post("/v1/jobs", content=ragged, headers={"content-type": "text/plain"})
        assert r.status_code == 415
    assert sorted(p.name for p in (service.root / "jobs").iterdir()) == before


def test_a_key_with_too_many_unfinished_jobs_gets_429(tmp_path):
    from tests.service.helpers import ServiceProcess, write_keys, write_tasks

    tasks = write_tasks(tmp_path)
    keys_file, keys = write_keys(tmp_path)
    env = {**__import__("os").environ, "FAKE_DELAY_S": "0.05"}
    with ServiceProcess(
        tmp_path, "--task-dir", str(tasks), "--jobs-dir", str(tmp_path / "jobs"),
        "--api-keys", str(keys_file), "--key-jobs", "2", "--job-workers", "1", env=env,
    ) as service, service.client(keys["all"]) as client:  # fmt: skip
        body = {"task": TASK, "texts": [f"t{n}" for n in range(200)]}
        first, second = (client.post("/v1/jobs", json=body).json() for _ in range(2))
        third = client.post("/v1/jobs", json=body)
        assert third.status_code == 429 and int(third.headers["retry-after"]) > 0
        with service.client(keys["one"]) as other:  # another key is not held up
            assert other.post("/v1/jobs", json=body).status_code == 202
        cancelled = client.delete(first["status_url"]).json()
        assert cancelled["state"] == "cancelled"
        assert client.post("/v1/jobs", json=body).status_code == 202  # room again
        status = client.get(second["status_url"]).json()
        assert status["state"] in ("queued", "running")


def test_nan_and_infinity_are_refused_not_written(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as client:
        for path in ("/v1/extract", "/v1/jobs"):
            raw = b'{"task": "%s", "records": [{"text": "a", "x": [NaN, Infinity]}]}' % (
                TASK.encode()
            )
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422 and "NaN" in r.json()["error"]["message"]


def test_a_job_from_a_plain_json_list_with_the_task_in_the_query(keyed):
    service, keys = keyed
    rows = [{"uid": f"L{n}", "verslag": f"lijst{n} x"} for n in range(3)]
    with service.client(keys["all"]) as client:
        r = client.post("/v1/jobs", params={"task": TASK, "seed": 7}, json=rows)
        assert r.status_code == 202, r.text
        job = r.json()
        assert wait_for_job(client, job["job_id"])["state"] == "complete"
        records = ndjson(client.get(job["records_url"]))
        assert [(x["id"], x["fields"]["woord"]) for x in records] == [
            (f"L{n}", f"lijst{n}") for n in range(3)
        ]
        assert client.post("/v1/jobs", json=rows).status_code == 422  # no task
        assert client.post("/v1/jobs", params={"task": TASK}, json=[1, 2]).status_code == 422


def test_an_unexpected_error_is_a_500_without_its_text_in_the_answer_or_the_log(keyed):
    service, keys = keyed
    with service.client(keys["all"]) as client:
        r = client.post("/v1/extract", json={"task": TASK, "texts": [f"RAISE: {SECRET}"]})
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert SECRET not in r.text
        assert client.get("/health").status_code == 200  # and it goes on serving
    log = service.log.read_text()
    assert "internal error RuntimeError on /v1/extract" in log
    assert SECRET not in log


def test_a_multipart_upload_streams_into_a_job(keyed, tmp_path):
    service, keys = keyed
    csv_path = write_csv(tmp_path / "reports.csv", [f"vorm{n} tekst" for n in range(4)])
    listed = tmp_path / "reports.json"
    listed.write_text(json.dumps([{"uid": "j1", "verslag": "json1 x"}]))
    with service.client(keys["all"]) as client:
        r = client.post(
            "/v1/jobs",
            files={"file": ("reports.csv", csv_path.read_bytes(), "text/csv")},
            data={"task": TASK, "options": json.dumps({"seed": 3}), "max_tokens": "64"},
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert wait_for_job(client, job["job_id"])["state"] == "complete"
        records = ndjson(client.get(job["records_url"]))
        assert [x["fields"]["woord"] for x in records] == [f"vorm{n}" for n in range(4)]
        stored = json.loads((service.root / "jobs" / job["job_id"] / "job.json").read_text())
        assert stored["options"] == {"seed": 3, "max_tokens": 64}
        as_json = client.post("/v1/jobs", params={"task": TASK},
                              files={"file": ("x.json", listed.read_bytes())})  # fmt: skip
        assert as_json.status_code == 202, as_json.text
        job = as_json.json()
        assert wait_for_job(client, job["job_id"])["state"] == "complete"
        assert [x["id"] for x in ndjson(client.get(job["records_url"]))] == ["j1"]
        bad = [
            dict(data={"task": TASK}, files={"other": ("a.txt", b"x")}),  # not a data file
            dict(data={"task": TASK}, files=[("f", ("a.csv", b"uid,verslag\n1,a\n")),
                                             ("g", ("b.csv", b"uid,verslag\n1,a\n"))]),
            dict(files={"file": ("a.csv", b"uid,verslag\n1,a\n")}),  # no task
            dict(data={"task": TASK, "num_examples": "lots"},
                 files={"file": ("a.csv", b"uid,verslag\n1,a\n")}),
            dict(content=b"--xx\r\nnonsense", headers={"content-type": "multipart/form-data"}),
            dict(content=b"--xx\r\nnonsense",
                 headers={"content-type": "multipart/form-data; boundary=xx"}),
        ]  # fmt: skip
        for request in bad:
            r = client.post("/v1/jobs", **request)
            assert r.status_code == 422, (request, r.text)
    leftovers = [p for p in (service.root / "jobs").iterdir() if p.name.startswith(".incoming")]
    assert leftovers == []
