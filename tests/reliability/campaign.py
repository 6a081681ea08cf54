"""`make reliability`: the whole campaign, then docs/reliability.md from its figures.

    python -m tests.reliability.campaign [--output docs/reliability.md] [--only kills,fuzz]

Each part is a module of tests/reliability/ (its docstring says what it does and what it
checks); `make test` runs a few cases of each (tests/reliability/test_*.py). Nothing in
the report is written by hand: a number in it is a count made by this run. Exit status 1
when any promise was broken (the report lists each case).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.paths import ROOT
from tests.reliability import (
    concurrent,
    corruption,
    egress,
    engine_faults,
    fuzz,
    hangs,
    kills,
    writes,
)
from tests.reliability.helpers import Tally

FUZZ = {"task file": 300, "schema": 300, "data file": 400}  # 1,000 inputs
PARTS: dict[str, Callable[[Path], Tally]] = {
    "kills": lambda w: kills.fake_engine_kills(w, kills=24),
    "kills-model": lambda w: kills.real_model_kills(w, kills=4),
    "corruption": lambda w: corruption.run(w, cases=15),
    "writes": lambda w: writes.injected(w, cases=15),
    "writes-real": lambda w: writes.real(w, rounds=2),
    "engine-faults": lambda w: engine_faults.run(w),
    "fuzz": lambda w: fuzz.run(w, FUZZ),
    "fuzz-model": lambda w: fuzz.run_embedded(w, cases=40),
    "concurrent": lambda w: concurrent.run(w, cases=8),
    "hangs": lambda w: hangs.run(w, tries=6, limit=150, reference=6),
    "egress": lambda w: egress.run(w),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make reliability")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--only", help=f"comma-separated parts: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(PARTS)
    started, load_before = time.monotonic(), os.getloadavg()
    tallies: list[tuple[Tally, float]] = []
    with tempfile.TemporaryDirectory(prefix="clinextract-reliability-") as tmp:
        for name in chosen:
            work = Path(tmp) / name
            work.mkdir()
            print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            tally = PARTS[name](work)
            tallies.append((tally, time.monotonic() - t0))
            status = f"{len(tally.problems)} problem(s)" if tally.problems else "ok"
            print(f"    {status} in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
            for problem in tally.problems[:10]:
                print(f"    - {problem[:300]}", file=sys.stderr)
    meta = {
        "seconds": time.monotonic() - started,
        "load": (load_before, os.getloadavg()),
        "partial": args.only is not None,
    }
    args.output.write_text(report(tallies, meta), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 1 if any(t.problems for t, _ in tallies) else 0


# --- the report --------------------------------------------------------------------------------


def _commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    return (proc.stdout.strip() or "unknown") + (" + uncommitted changes in src/" if dirty else "")


def _figure(tallies: list[tuple[Tally, float]], name: str, key: str) -> int:
    return sum(t[key] for t, _ in tallies if t.name == name and isinstance(t[key], int))


def headline(tallies: list[tuple[Tally, float]]) -> list[str]:
    """The figures the issue asks for, summed over the parts that count them."""
    all_kills = _figure(tallies, "kill -9, fake engine", "kills") + _figure(
        tallies, "kill -9, real model", "kills"
    )
    fuzzed = sum(t["inputs"] for t, _ in tallies if t.name.startswith("fuzzing"))
    tracebacks = sum(t["tracebacks"] for t, _ in tallies if t.name.startswith("fuzzing"))
    tracebacks += sum(1 for t, _ in tallies for p in t.problems if "Traceback" in p)
    lost = sum(t["records lost"] for t, _ in tallies)
    duplicated = sum(t["records duplicated"] for t, _ in tallies)
    fabricated = sum(t["fabricated values"] for t, _ in tallies)
    hangs_found = sum(t["hangs"] for t, _ in tallies if t.name == "hangs")
    problems = sum(len(t.problems) for t, _ in tallies)
    return [
        "| figure | count |",
        "|---|---|",
        f"| kills (`kill -9`) survived | {all_kills} |",
        f"| bad inputs tried (fuzzing) | {fuzzed} |",
        f"| tracebacks | {tracebacks} |",
        f"| records lost | {lost} |",
        f"| records duplicated | {duplicated} |",
        f"| values the engine did not give | {fabricated} |",
        f"| hangs (clinextract) | {hangs_found} |",
        f"| broken promises, all parts | {problems} |",
    ]


def _value(value: object) -> str:
    if isinstance(value, Counter | dict):
        return "; ".join(f"{k}: {v}" for k, v in sorted(value.items(), key=lambda kv: -kv[1]))
    return str(value)


def report(tallies: list[tuple[Tally, float]], meta: dict) -> str:
    date = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    (before, after) = meta["load"]
    lines = [
        "# Reliability campaign",
        "",
        "Written by `make reliability` (tests/reliability/campaign.py); do not edit by hand.",
        f"Run {date} on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, commit {_commit()}; "
        f"{meta['seconds'] / 60:.0f} minutes; load average {before[0]:.1f} before, "
        f"{after[0]:.1f} after (other work shared the machine).",
        "" if not meta["partial"] else "\n**A partial run** (`--only`): some parts are missing.\n",
        "What each part does and checks is in its module's docstring (tests/reliability/);",
        "`make test` runs a few cases of each. A *problem* is a broken promise: a record lost",
        "or duplicated, a value the engine did not give, an input changed, a traceback, a",
        "second error line, a wrong exit code, a hang.",
        "",
        "## Summary",
        "",
        *headline(tallies),
        "",
        "## Parts",
        "",
    ]
    for tally, seconds in tallies:
        lines += [f"### {tally.name}", "", f"{seconds / 60:.1f} minutes.", ""]
        lines += [f"- {key}: {_value(value)}" for key, value in tally.figures.items()]
        lines += ["", f"Problems: {len(tally.problems)}" + (":" if tally.problems else ".")]
        lines += [f"- {p[:400]}" for p in tally.problems[:30]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
