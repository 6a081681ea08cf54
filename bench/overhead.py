"""Per-document overhead and peak memory of the whole pipeline, with an instant fake engine.

`measure_overhead(rows)` runs read → prompt → (fake) engine → validate → checkpoint →
final write over `rows` reports and returns docs/s and ms per document.

`measure_memory(rows)` runs the same in a fresh subprocess (`python -m bench.overhead
--memory ...`) and returns its peak RSS, so that imports and earlier runs in this process
do not blur the figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from clinextract.pipeline import run_task
from clinextract.settings import Settings
from clinextract.task import load_task

from .dataset import make_reports, write_task
from .fake import InstantEngine

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class OverheadResult:
    rows: int
    seconds: float
    successes: int
    engine_requests: int
    data_mb: float

    @property
    def docs_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def ms_per_doc(self) -> float:
        return 1000 * self.seconds / self.rows


@dataclass
class MemoryResult:
    rows: int
    data_mb: float  # size of the input file
    rss_before_mb: float  # after imports and loading the task, before the run
    peak_rss_mb: float  # the process's peak over the whole run
    seconds: float

    @property
    def growth_mb(self) -> float:
        return self.peak_rss_mb - self.rss_before_mb


def write_rows(folder: Path, rows: int) -> Path:
    """A task over `rows` benchmark reports (64 distinct texts, repeated, unique ids)."""
    reports = make_reports(64)
    task_path = write_task(folder, reports[:1])
    with (folder / "reports.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for n in range(rows):
            writer.writerow((f"doc-{n:07d}", reports[n % len(reports)].text))
    return task_path


def _run(task_path: Path, out: Path) -> tuple[float, int, int]:
    settings = Settings(
        task_dir=task_path.parent,
        data_dir=task_path.parent,
        output_dir=out,
        run_name="overhead",
        overwrite=True,
    )
    task = load_task(task_path, settings)
    engine = InstantEngine(capacity=settings.parallel)
    started = time.perf_counter()
    summary = run_task(task, settings, engine=engine)[-1]
    return time.perf_counter() - started, summary.successes, engine.requests


def measure_overhead(rows: int = 10_000) -> OverheadResult:
    with tempfile.TemporaryDirectory(prefix="clinextract-overhead-") as tmp:
        task_path = write_rows(Path(tmp) / "task", rows)
        data_mb = (task_path.parent / "reports.csv").stat().st_size / 1e6
        seconds, successes, requests = _run(task_path, Path(tmp) / "out")
    return OverheadResult(rows, seconds, successes, requests, round(data_mb, 1))


def measure_memory(rows: int) -> MemoryResult:
    with tempfile.TemporaryDirectory(prefix="clinextract-memory-") as tmp:
        task_path = write_rows(Path(tmp) / "task", rows)
        cmd = [
            sys.executable,
            "-m",
            "bench.overhead",
            "--memory",
            str(task_path),
            "--rows",
            str(rows),
            "--out",
            str(Path(tmp) / "out"),
        ]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return MemoryResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def _rss_mb(key: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak (VmHWM), in MB.

    VmHWM rather than getrusage's ru_maxrss: the latter keeps the parent's size from
    before `exec`, so a child started by a big parent reports the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _memory_child(task_path: Path, rows: int, out: Path) -> None:
    data_mb = task_path.parent.joinpath("reports.csv").stat().st_size / 1e6
    # warm the imports the run needs, then take the baseline
    settings = Settings(task_dir=task_path.parent, data_dir=task_path.parent)
    load_task(task_path, settings)
    import pydantic  # noqa: F401

    before = _rss_mb()
    seconds, _, _ = _run(task_path, out)
    peak = _rss_mb("VmHWM")
    result = MemoryResult(
        rows, round(data_mb, 1), round(before, 1), round(peak, 1), round(seconds, 2)
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory", type=Path, help="task file (child process mode)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    if args.memory:
        _memory_child(args.memory, args.rows, args.out)
    else:
        result = measure_overhead(args.rows)
        print(
            f"{result.rows} rows in {result.seconds:.2f} s: {result.docs_per_s:.0f} docs/s, "
            f"{result.ms_per_doc:.3f} ms/doc"
        )
