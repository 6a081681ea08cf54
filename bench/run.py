"""`make bench`: the machine's bound, throughput (A, A0 = A without fast-forward, B),
engine-setting sweep, per-document overhead, memory.

    .venv/bin/python bench/run.py            # full run, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # < 10 min, writes bench/out/RESULTS-quick.md

The last three lines printed are `throughput ratio A/B: X.XX`, `fast-forward ratio: X.XX`
and `share of bound: NN%` (RESULTS.md ends with them too).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bound, machine, overhead, report, sweep, throughput  # noqa: E402
from bench.dataset import make_reports  # noqa: E402
from clinextract.engines.embedded import bundled_model  # noqa: E402
from clinextract.settings import Settings  # noqa: E402

FULL = {"docs": 48, "reps": 3, "overhead_rows": 10_000, "memory_rows": (1_000, 100_000)}
# quick: 16 reports, twice the slots: with 8 on 8 slots every report starts at once and
# the run is all ramp-up and drain (fast-forward 1.18-1.23x there, 1.30x with 16); three
# repetitions, so that each variant is once the first of its repetition (the machine's
# drift between runs was +-6 % of A's docs/s on 16 reports)
QUICK = {"docs": 16, "reps": 3, "overhead_rows": 10_000, "memory_rows": (1_000, 100_000)}
SWEEP = [{"parallel": 4}, {"parallel": 8}, {"parallel": 16}]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and repetitions")
    parser.add_argument("--docs", type=int, help="reports in the throughput task")
    parser.add_argument("--reps", type=int, help="A/B repetitions")
    parser.add_argument("--no-throughput", action="store_true", help="skip the model runs")
    parser.add_argument("--no-sweep", action="store_true", help="skip the settings sweep")
    parser.add_argument(
        "--llguidance-b",
        action="store_true",
        help="also run B once with xllamacpp's own schema converter (shows the run-away)",
    )
    parser.add_argument("--results", type=Path, help="where to write the Markdown")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="MINUTES",
        help="before the model runs, wait up to this long for other processes to go quiet",
    )
    return parser.parse_args(argv)


def wait_quiet(minutes: float, threshold: float = 0.3, window: float = 20.0) -> None:
    """Wait until other processes use less than `threshold` cores over `window` seconds."""
    deadline = time.monotonic() + 60 * minutes
    while True:
        with machine.OtherLoad() as others:
            time.sleep(window)
        print(f"  other processes: {others.cores:.1f} cores busy")
        if others.cores < threshold or time.monotonic() > deadline:
            return


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress as it goes
    plan = dict(QUICK if args.quick else FULL)
    docs, reps = args.docs or plan["docs"], args.reps or plan["reps"]
    out = args.results or (
        ROOT / "bench" / "out" / "RESULTS-quick.md" if args.quick else ROOT / "bench" / "RESULTS.md"
    )
    started = time.perf_counter()
    command = "make bench-quick" if args.quick else "make bench"
    if argv or sys.argv[1:] not in ([], ["--quick"]):
        command = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    res = report.Results(machine=machine.describe(), command=command, quick=args.quick)
    print(f"machine: {res.machine['cores']} cores, load {res.machine['load_before']}")

    print(f"overhead: {plan['overhead_rows']:,} rows with the instant fake engine")
    res.overhead = overhead.measure_overhead(plan["overhead_rows"])
    print(f"  {res.overhead.docs_per_s:,.0f} docs/s, {res.overhead.ms_per_doc:.3f} ms/doc")
    for rows in plan["memory_rows"]:
        print(f"memory: {rows:,} rows in a fresh process")
        res.memory.append(overhead.measure_memory(rows))
        m = res.memory[-1]
        print(f"  peak RSS {m.peak_rss_mb} MB (before the run {m.rss_before_mb} MB)")

    if not args.no_throughput:
        if args.wait_quiet:
            wait_quiet(args.wait_quiet)
        reports = make_reports(docs)
        print("the machine's bound: prompt and decode rates of this llama.cpp build")
        res.bound = bound.measure_bound(bundled_model()[0], Settings().threads, reports)
        print(f"throughput: {docs} reports, {reps} repetitions, A, A0 and B taking turns")
        res.throughput = throughput.measure(reports, reps)
        if args.llguidance_b:
            res.llguidance_b = throughput.llguidance_probe(reports[:4])
        if not args.quick and not args.no_sweep:
            print("sweep: A with other engine settings")
            res.sweep = sweep.sweep(reports, SWEEP)

    res.load_after = [round(x, 2) for x in machine.load_average()]
    res.minutes = (time.perf_counter() - started) / 60
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.render(res), encoding="utf-8")
    print(f"wrote {os.path.relpath(out, Path.cwd())}")
    if res.throughput:
        t = res.throughput
        for v in throughput.VARIANTS:
            print(
                f"{v}: {t.median(v, 'docs_per_s'):.2f} docs/s, "
                f"{t.median(v, 'completion_tokens') / t.docs:.1f} decoded tok/doc (medians)"
            )
        same, total, _ = t.agreement()
        print(f"fields identical with and without fast-forward: {same}/{total}")
        for v in ("A", "A0"):
            same, total = t.self_agreement(v)
            if total:
                print(f"fields identical between two repetitions of {v}: {same}/{total}")
    for line in res.summary_lines():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
