"""`make bench-ray`: how `--executor ray` scales, what it costs, and the real model on Ray.

    .venv/bin/python bench/ray_scaling.py            # writes bench/RESULTS-ray.md
    .venv/bin/python bench/ray_scaling.py --quick    # fewer documents, bench/out/

1. Scaling: a fake server of fixed latency in each worker (sleeps, no CPU: what a GPU
   server looks like from the driver) through 1, 2, 4 and 8 workers; docs/s and the
   scaling efficiency docs/s(N) / (N × docs/s(1)).
2. The Ray layer's cost per document: an instant fake engine, once in this process and
   once behind a 2-worker Ray pool; the difference per document, with the driver as the
   bottleneck (it is what a driver spends on each document besides the pipeline).
3. The real model (embedded engine) locally, on 1 Ray worker with both cores and on 2
   workers with one core each.

Everything runs on one private Ray started here (single-machine mode: 127.0.0.1 only, no
dashboard, no usage statistics). Worker start-up and model loading are not timed.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import ray  # noqa: E402

from bench import machine  # noqa: E402
from bench.dataset import make_reports  # noqa: E402
from bench.fake import InstantEngine, sleeping_engine  # noqa: E402
from bench.throughput import prepare  # noqa: E402
from clinextract.engines import create_engine  # noqa: E402
from clinextract.engines.ray_pool import RayPoolEngine  # noqa: E402
from clinextract.pipeline import run_task  # noqa: E402

LATENCY = 0.5  # seconds per request of the fake server
SLOTS = 4  # its concurrent requests, per worker
WORKERS = (1, 2, 4, 8)


@dataclass
class Sample:
    label: str
    workers: int
    docs: int
    seconds: float
    other_cores: float

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds


def timed(label: str, workers: int, task, settings, engine) -> Sample:
    with machine.OtherLoad() as others:
        started = time.perf_counter()
        [summary] = run_task(task, settings, engine=engine)
        seconds = time.perf_counter() - started
    assert summary.successes == summary.rows, f"{label}: {summary.failures} failures"
    sample = Sample(label, workers, summary.rows, seconds, others.cores)
    print(f"  {label}: {sample.docs_per_s:.2f} docs/s ({seconds:.1f} s, {sample.docs} docs)")
    return sample


def scaling(tmp: Path, rounds: int, reps: int) -> list[Sample]:
    samples = []
    for workers in WORKERS:
        docs = workers * SLOTS * rounds
        task, settings = prepare(tmp / f"w{workers}", make_reports(docs))
        settings = settings.model_copy(
            update={"executor": "ray", "workers": workers, "parallel": SLOTS}
        )
        fake = functools.partial(sleeping_engine, LATENCY)
        with RayPoolEngine(settings, make_engine=fake) as engine:
            for rep in range(reps):
                run = settings.model_copy(update={"run_name": f"r{rep}"})
                label = f"{workers} worker{'s' if workers > 1 else ''}"
                samples.append(timed(label, workers, task, run, engine))
    return samples


def layer_cost(tmp: Path, docs: int) -> tuple[Sample, Sample]:
    task, settings = prepare(tmp / "cost", make_reports(docs))
    local = timed("instant engine, in process", 0, task, settings, InstantEngine(SLOTS))
    on_ray = settings.model_copy(update={"executor": "ray", "workers": 2, "parallel": SLOTS})
    with RayPoolEngine(on_ray, make_engine=instant_engine) as engine:
        ray_sample = timed("instant engine, 2 Ray workers", 2, task, on_ray, engine)
    return local, ray_sample


def instant_engine(settings) -> InstantEngine:
    return InstantEngine(settings.parallel)


def real_model(tmp: Path, docs: int) -> list[Sample]:
    task, settings = prepare(tmp / "model", make_reports(docs))
    cores = os.cpu_count() or 1
    variants = [
        ("local, 1 process", 0, {"threads": cores}),
        ("Ray, 1 worker", 1, {"executor": "ray", "workers": 1, "worker_cpus": cores}),
        (
            "Ray, 2 workers",
            2,
            {"executor": "ray", "workers": 2, "worker_cpus": max(1, cores // 2), "parallel": 4},
        ),
    ]
    samples = []
    for label, workers, overrides in variants:
        run = settings.model_copy(update={**overrides, "run_name": label.replace(" ", "")})
        with create_engine(run) as engine:
            samples.append(timed(label, workers, task, run, engine))
    return samples


def render(scale: list[Sample], cost: tuple[Sample, Sample], model: list[Sample], info) -> str:
    per = {w: statistics.median(s.docs_per_s for s in scale if s.workers == w) for w in WORKERS}
    lines = [
        "# `--executor ray`: scaling, cost per document, the real model",
        "",
        f"`make bench-ray`, {info['date']}, {info['cores']} cores ({info['cpu']}), "
        f"load before {info['load_before']}, Ray {ray.__version__}. One private Ray on "
        "this machine; worker start-up and model loading not timed. Figures are only "
        "comparable within this file (the machine is shared).",
        "",
        f"## Scaling: a fake server of {LATENCY:g} s per request, {SLOTS} slots per worker",
        "",
        "Each worker holds a fake engine that sleeps (no CPU), as a GPU server looks from",
        f"the driver; ideal = workers × {SLOTS / LATENCY:g} docs/s. "
        f"{len(scale) // len(WORKERS)} repetitions, medians.",
        "",
        "| workers | docs | docs/s | ideal | efficiency | busy cores besides the driver |",
        "|---|---|---|---|---|---|",
    ]
    for w in WORKERS:
        rows = [s for s in scale if s.workers == w]
        eff = per[w] / (w * per[1])
        busy = statistics.median(s.other_cores for s in rows)
        lines.append(
            f"| {w} | {rows[0].docs} | {per[w]:.2f} | {w * SLOTS / LATENCY:g} | {eff:.2f} "
            f"| {busy:.1f} |"
        )
    eff8 = per[8] / (8 * per[1])
    local, on_ray = cost
    ms = 1000 * (on_ray.seconds - local.seconds) / on_ray.docs
    lines += [
        "",
        f"**Scaling efficiency at 8 workers: {eff8:.2f}** (goal ≥ 0.8).",
        "",
        "## The Ray layer's cost per document",
        "",
        f"An instant fake engine, {local.docs} documents: the driver is the bottleneck.",
        "",
        "| | docs/s | ms per document |",
        "|---|---|---|",
        f"| {local.label} | {local.docs_per_s:.0f} | {1000 * local.seconds / local.docs:.2f} |",
        f"| {on_ray.label} | {on_ray.docs_per_s:.0f} | {1000 * on_ray.seconds / on_ray.docs:.2f} |",
        "",
        f"**The Ray layer adds {ms:.2f} ms per document** on the driver (a request to a "
        "worker and its answer back, in blocks); a model takes ~1 s per document here.",
        "",
        f"## The real model on this {info['cores']}-core machine",
        "",
        "The bundled Gemma 3 270M, embedded engine, the bench task, the same cores three",
        "ways: one process with all cores as threads (8 slots), one Ray worker with all",
        "cores, two Ray workers with one core each (4 slots each). On one small box Ray adds",
        "processes, not cores: it pays off with more machines (docs/scale.md). On a crowded",
        "machine (see the load average above) an engine with two threads slows down far more",
        "than two engines with one thread each, because llama.cpp's threads wait for each",
        "other (docs/performance.md, `--threads`): differences here then say more about the",
        "machine's load than about Ray. Busy cores besides the driver include the workers.",
        "",
        "| | docs | docs/s | busy cores besides the driver |",
        "|---|---|---|---|",
    ]
    lines += [f"| {s.label} | {s.docs} | {s.docs_per_s:.2f} | {s.other_cores:.1f} |" for s in model]
    lines += ["", f"scaling efficiency at 8 workers: {eff8:.2f}; Ray layer: {ms:.2f} ms/doc", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and repetitions")
    parser.add_argument("--no-model", action="store_true", help="skip the real model")
    parser.add_argument("--results", type=Path, help="where to write the Markdown")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    out = args.results or (
        ROOT / "bench" / "out" / "RESULTS-ray-quick.md"
        if args.quick
        else ROOT / "bench" / "RESULTS-ray.md"
    )
    info = machine.describe()
    ray.init(
        address="local",
        num_cpus=max(8, os.cpu_count() or 1),
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="clinextract-bench-ray-") as tmp:
            print(f"scaling: fake server, {LATENCY:g} s per request, {SLOTS} slots per worker")
            scale = scaling(Path(tmp), rounds=5 if args.quick else 12, reps=1 if args.quick else 3)
            print("cost per document: instant fake engine")
            cost = layer_cost(Path(tmp), 1000 if args.quick else 5000)
            model: list[Sample] = []
            if not args.no_model:
                print("real model")
                model = real_model(Path(tmp), 8 if args.quick else 24)
    finally:
        ray.shutdown()
    text = render(scale, cost, model, info)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {os.path.relpath(out, Path.cwd())}")
    print(text.rstrip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
