"""Two runs on one run folder: a user starts the same command twice. The second must stop
at once with exit 2 and one line naming the first one's pid, the first must finish as if
alone; a lock left by a killed run is taken over by the next one."""

from __future__ import annotations

import random
import re
import subprocess
import time
from pathlib import Path

from tests.paths import ROOT
from tests.reliability.helpers import (
    Tally,
    check_run,
    child_command,
    env,
    expected_values,
    make_reports,
    one_line_error,
    record_count,
    run_child,
    run_folder,
    wait_for,
    write_task,
)


def run(work: Path, cases: int, seed: int = 21, rows: int = 24) -> Tally:
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    expected = expected_values(reports)
    tally = Tally("two runs on one folder")
    slow = env(FAKE_DELAY="0.8")  # the first run lasts while the second starts
    for case in range(cases):
        root = write_task(work / f"twice{case:03d}", reports)
        parallel = rng.choice(("1", "2"))
        first = subprocess.Popen(
            child_command(root, "--parallel", parallel),
            cwd=ROOT,
            env=slow,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        after = rng.randint(1, rows // 4)
        wait_for(lambda: record_count(root) >= after or first.poll() is not None, 120)  # noqa: B023
        second = run_child(root, "--parallel", parallel)
        out, err = first.communicate(timeout=300)
        tally.add("cases")
        where = f"case {case} (second run after {after} records)"
        if first.returncode != 0:
            tally.problems.append(f"{where}: the first run: exit {first.returncode}: {err[-300:]}")
        line = one_line_error(second) or ""
        if second.returncode == 2 and re.search(rf"in use by pid {first.pid}\b", line):
            tally.add("second run refused, exit 2 with the first run's pid")
        elif second.returncode == 0 and first.returncode == 0 and "reused" in second.stdout:
            tally.add("second run started after the first ended (all reused)")
        else:
            tally.problems.append(
                f"{where}: second run exit {second.returncode}: {second.stderr[-300:]}"
            )
        tally.record(check_run(root, expected), where)
    # a lock left behind by a killed run
    for case in range(max(1, cases // 4)):
        root = write_task(work / f"stale{case:03d}", reports)
        killed = run_child(root, "--parallel", "4", crash="lock:1")
        pid_file = run_folder(root) / "run.lock"
        tally.add("stale locks")
        if killed.returncode != -9 or not pid_file.read_text().strip().isdigit():
            tally.problems.append(f"stale case {case}: the run was not killed holding the lock")
            continue
        started = time.monotonic()
        again = run_child(root, "--parallel", "4")
        if again.returncode == 0 and check_run(root, expected).ok:
            tally.add("stale locks taken over")
        else:
            tally.problems.append(
                f"stale case {case}: exit {again.returncode}: {again.stderr[-300:]}"
            )
        tally.figures["slowest take-over (s)"] = max(
            tally["slowest take-over (s)"], round(time.monotonic() - started, 1)
        )
    return tally
