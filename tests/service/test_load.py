"""Load: 1,000 sync requests from 50 concurrent clients against a real uvicorn with the
fake engine. Every request is answered 200 or 429 (never 5xx), and every text of an
accepted request comes back exactly once, in its request's order, as its own record."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from clinextract.records import text_sha
from clinextract.service.keys import add_key
from tests.service.helpers import TASK, ServiceProcess, bearer, write_tasks

CLIENTS, PER_CLIENT, TEXTS = 50, 20, 3  # 1,000 requests, 3,000 texts


def texts_for(client: int, request: int) -> list[str]:
    return [f"c{client}r{request}t{t} " + "woord " * ((client + t) % 5) for t in range(TEXTS)]


async def one_client(url: str, key: str, client: int, log: list) -> None:
    async with httpx.AsyncClient(base_url=url, headers=bearer(key), timeout=120) as http:
        for request in range(PER_CLIENT):
            texts = texts_for(client, request)
            started = time.perf_counter()
            r = await http.post("/v1/extract", json={"task": TASK, "texts": texts})
            log.append((r, texts, time.perf_counter() - started))


async def load(url: str, keys: list[str]) -> list:
    log: list = []
    await asyncio.gather(*(one_client(url, keys[n % len(keys)], n, log) for n in range(CLIENTS)))
    return log


def test_1000_requests_from_50_clients(tmp_path):
    tasks = write_tasks(tmp_path)
    keys = [add_key(tmp_path / "keys.json", f"k{n}") for n in range(2)]
    with ServiceProcess(
        tmp_path, "--task-dir", str(tasks), "--jobs-dir", str(tmp_path / "jobs"),
        "--api-keys", str(tmp_path / "keys.json"),
        "--key-concurrency", "4", "--key-queue", "8",  # 25 clients per key: some must wait
    ) as service:  # fmt: skip
        started = time.perf_counter()
        log = asyncio.run(load(service.url, keys))
        seconds = time.perf_counter() - started
    statuses = Counter(r.status_code for r, _, _ in log)
    assert len(log) == CLIENTS * PER_CLIENT
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] > 0
    returned: Counter = Counter()
    for response, texts, _ in log:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "too_many_requests"
            continue
        records = response.json()["records"]
        assert [x["row"] for x in records] == list(range(TEXTS))
        for record, text in zip(records, texts, strict=True):
            assert record["text_sha"] == text_sha(text)
            assert record["status"] == "success"
            assert record["fields"]["woord"] == text.split()[0]
            returned[record["fields"]["woord"]] += 1
    accepted = [t.split()[0] for r, texts, _ in log if r.status_code == 200 for t in texts]
    assert returned == Counter(accepted) and max(returned.values()) == 1
    latencies = sorted(s for r, _, s in log if r.status_code == 200)
    print(
        f"\nload: {len(log)} requests in {seconds:.1f} s ({len(log) / seconds:.0f} req/s), "
        f"{statuses[200]} × 200, {statuses[429]} × 429; accepted latency p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 "
        f"{latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms"
    )
