"""`make bench-service`: what the extraction service costs on top of the pipeline.

    .venv/bin/python bench/service.py                # writes bench/SERVICE.md
    .venv/bin/python bench/service.py --no-model     # only the fake-engine overhead

1. Overhead, with the instant fake engine (bench/fake.py) and one-report sync requests
   (POST /v1/extract) on 127.0.0.1 with a keys file: requests/s and p50/p99 latency from
   one client and from 16 concurrent clients, beside the same requests through the
   pipeline in-process (`service.runs.extract_rows`, no HTTP): the difference is the
   service (HTTP, JSON, keys, limits, threads). The load generator runs on the same
   cores as the service.
2. The real model: one job over the benchmark reports through the service beside
   `clinextract run` on the same file and settings (docs/s as each run's manifest
   measures it, model load excluded), alternating which goes first; and the same reports
   as one-report sync requests from 8 concurrent clients, which share the engine's slots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import machine  # noqa: E402
from bench.dataset import TASK_NAME, make_reports, write_task  # noqa: E402
from bench.fake import InstantEngine  # noqa: E402
from clinextract.service.keys import add_key  # noqa: E402
from clinextract.service.runs import Scratch, SharedEngine, extract_rows  # noqa: E402
from clinextract.settings import Settings  # noqa: E402
from clinextract.task import load_task  # noqa: E402
from tests.service.helpers import ServiceProcess, bearer, wait_for_job  # noqa: E402

FAKE_SERVICE = [sys.executable, "-m", "bench.service_fake"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


# --- 1. overhead with the fake engine --------------------------------------------------------


def in_process(folder: Path, texts: list[str]) -> dict[str, float]:
    settings = Settings(task_dir=folder)
    task = load_task(folder / f"{TASK_NAME}.json", settings)
    engine = SharedEngine(InstantEngine())
    scratch = Scratch(folder / "scratch")
    latencies = []
    started = time.perf_counter()
    try:
        for text in texts:
            t = time.perf_counter()
            extract_rows(task, settings, engine, [{"text": text}], "text", None, scratch.path)
            latencies.append(time.perf_counter() - t)
    finally:
        scratch.close()
    return figures(latencies, time.perf_counter() - started)


async def _clients(url: str, key: str, texts: list[str], clients: int) -> tuple[list, float]:
    queue = list(enumerate(texts))
    latencies: list[float] = []
    statuses: list[int] = []

    async def client() -> None:
        headers = bearer(key) if key else {}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http:
            while queue:
                _, text = queue.pop()
                t = time.perf_counter()
                r = await http.post("/v1/extract", json={"task": TASK_NAME, "texts": [text]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    if set(statuses) != {200}:
        raise RuntimeError(f"not every request was answered 200: {sorted(set(statuses))}")
    return latencies, time.perf_counter() - started


def overhead(folder: Path, requests: int) -> dict[str, Any]:
    texts = [r.text for r in make_reports(64)] * (requests // 64 + 1)
    keys = folder / "keys.json"
    key = add_key(keys, "bench")
    out: dict[str, Any] = {"in_process_1": in_process(folder, texts[:requests])}
    with ServiceProcess(
        folder, "--task-dir", str(folder), "--jobs-dir", str(folder / "jobs"),
        "--api-keys", str(keys), "--key-concurrency", "16", "--key-queue", "64",
        command=FAKE_SERVICE,
    ) as service:  # fmt: skip
        asyncio.run(_clients(service.url, key, texts[:50], 4))  # warm-up
        for clients in (1, 16):
            latencies, seconds = asyncio.run(_clients(service.url, key, texts[:requests], clients))
            out[f"service_{clients}"] = figures(latencies, seconds)
    return out


# --- 2. the real model: a job beside the CLI --------------------------------------------------


def cli_run(folder: Path, rep: int, parallel: int) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "clinextract.cli", "run", str(folder / f"{TASK_NAME}.json"),
         "--data-dir", str(folder), "--output-dir", str(folder / "cli"),
         "--run-name", f"rep{rep}", "--parallel", str(parallel)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"clinextract run failed: {proc.stderr[-500:]}")
    run = folder / "cli" / f"rep{rep}" / f"{TASK_NAME}-run0"
    manifest = json.loads((run / "manifest.json").read_text())
    return {
        "docs_per_s": manifest["timings"]["docs_per_s"],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def service_run(folder: Path, rep: int, parallel: int, sync_clients: int) -> dict[str, Any]:
    jobs = folder / f"jobs-rep{rep}"
    with ServiceProcess(
        folder, "--task-dir", str(folder), "--jobs-dir", str(jobs),
        "--parallel", str(parallel), "--max-sync", "64", "--key-concurrency", "16",
        fake=False, timeout=600,
    ) as service, service.client(timeout=600) as client:  # fmt: skip
        started = time.perf_counter()
        job = client.post(
            "/v1/jobs", params={"task": TASK_NAME},
            content=(folder / "reports.csv").read_bytes(), headers={"content-type": "text/csv"},
        ).json()  # fmt: skip
        status = wait_for_job(client, job["job_id"], timeout=3600)
        job_wall = time.perf_counter() - started
        if status["state"] != "complete":
            raise RuntimeError(f"the job did not complete: {status}")
        texts = [r["text"] for r in _csv_rows(folder / "reports.csv")]
        latencies, sync_seconds = asyncio.run(_clients(service.url, "", texts, sync_clients))
    return {
        "job_docs_per_s": status["docs_per_s"],
        "job_wall_s": round(job_wall, 1),
        "sync_docs_per_s": round(len(texts) / sync_seconds, 4),
        "sync_p50_s": round(percentile(latencies, 0.5), 2),
    }


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def model(folder: Path, docs: int, reps: int, parallel: int) -> list[dict[str, Any]]:
    write_task(folder, make_reports(docs))
    samples = []
    for rep in range(reps):
        order = ("cli", "service") if rep % 2 == 0 else ("service", "cli")
        sample: dict[str, Any] = {"rep": rep, "first": order[0]}
        for which in order:
            with machine.OtherLoad() as others:
                if which == "cli":
                    sample["cli"] = cli_run(folder, rep, parallel)
                else:
                    sample["service"] = service_run(folder, rep, parallel, sync_clients=8)
            sample[f"{which}_other_cores"] = round(others.cores, 2)
            print(f"  rep {rep} {which}: {sample[which]}", flush=True)
        samples.append(sample)
    return samples


# --- the report ---------------------------------------------------------------------------------


def report(
    info: dict[str, Any], fake: dict[str, Any], runs: list[dict[str, Any]], docs: int, command: str
) -> str:
    lines = [
        "# Service benchmark (`make bench-service`)",
        "",
        f"`{command}` · {info['date']} · {info['cores']} cores · {info['cpu']} · load before "
        f"{info['load_before']} · clinextract {info['clinextract']}",
        "",
        "## Overhead, instant fake engine, one report per POST /v1/extract",
        "",
        "| path | requests | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    names = {
        "in_process_1": "pipeline in-process, no HTTP (1 caller)",
        "service_1": "service, 1 client",
        "service_16": "service, 16 concurrent clients",
    }
    for key, name in names.items():
        f = fake[key]
        lines.append(f"| {name} | {f['requests']} | {f['req_per_s']} | {f['p50_ms']} | "
                     f"{f['p99_ms']} |")  # fmt: skip
    extra = fake["service_1"]["p50_ms"] - fake["in_process_1"]["p50_ms"]
    lines += [
        "",
        f"The service adds **{extra:.1f} ms** per request at p50 over the pipeline itself "
        "(HTTP, JSON, key check, limits, a worker thread); the load generator shares the "
        "machine's cores with the service.",
    ]
    if runs:
        lines += [
            "",
            f"## The real model: {docs} benchmark reports (bundled Gemma 3 270M)",
            "",
            "| rep | first | CLI docs/s | service job docs/s | job wall s (POST → complete) | "
            "sync docs/s (8 clients × 1 report) | other cores busy (CLI / service) |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in runs:
            c, v = s["cli"], s["service"]
            lines.append(
                f"| {s['rep']} | {s['first']} | {c['docs_per_s']:.3f} | "
                f"{v['job_docs_per_s']:.3f} | {v['job_wall_s']} | {v['sync_docs_per_s']:.3f} | "
                f"{s['cli_other_cores']} / {s['service_other_cores']} |"
            )
        cli = statistics.median(s["cli"]["docs_per_s"] for s in runs)
        job = statistics.median(s["service"]["job_docs_per_s"] for s in runs)
        sync = statistics.median(s["service"]["sync_docs_per_s"] for s in runs)
        lines += [
            "",
            f"Medians: CLI {cli:.3f} docs/s, service job {job:.3f} docs/s "
            f"(**{job / cli:.2f}×** the CLI), sync requests {sync:.3f} docs/s "
            f"({sync / cli:.2f}×). docs/s is each run's manifest figure (rows computed / run "
            "time, model load excluded); the job's wall time includes the upload check and "
            "the queue.",
        ]
        busiest = max(max(s["cli_other_cores"], s["service_other_cores"]) for s in runs)
        if busiest > 0.5:
            lines += [
                "",
                f"**Caveat:** other processes kept up to {busiest:.1f} of the machine's "
                f"{info['cores']} cores busy during these runs, so the model figures say more "
                "about that load than about the service; run `make bench-service` again on a "
                "quiet machine (more `--docs` and `--reps`) before drawing conclusions.",
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="fake-engine requests per row")
    parser.add_argument("--docs", type=int, default=24, help="reports for the model runs")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--no-model", action="store_true", help="skip the real-model runs")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "SERVICE.md")
    args = parser.parse_args(argv)
    info = machine.describe()
    with tempfile.TemporaryDirectory(prefix="clinextract-bench-service-") as tmp:
        folder = Path(tmp)
        write_task(folder, make_reports(1))
        print("overhead (fake engine) ...", flush=True)
        fake = overhead(folder, args.requests)
        print(f"  {fake}", flush=True)
        runs = []
        if not args.no_model:
            print("real model: service job beside clinextract run ...", flush=True)
            runs = model(folder / "model", args.docs, args.reps, args.parallel)
    command = " ".join(["bench/service.py", *(argv if argv is not None else sys.argv[1:])])
    text = report(info, fake, runs, args.docs, command)
    args.results.write_text(text, encoding="utf-8")
    raw = {"machine": info, "overhead": fake, "model": runs, "docs": args.docs}
    args.results.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
