"""Hangs: start-up and early errors, many times, under CPU load. Every wait must end.

  * a data file with a ragged row: the run must stop with exit 2 before the model loads;
  * Ctrl+C (SIGINT) at a random moment of a real run's first seconds: exit 130 (or the
    run's own end), never a hang;
  * the embedded engine started and stopped at once (what an early error does);
  * for reference, llama.cpp's server (xllamacpp) started and dropped at once without
    clinextract's first request: the upstream race that made runs hang.
A process still running after `limit` seconds counts as a hang (and is killed).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.helpers import Tally, cli_args, cpu_load, env, make_reports, write_task

START_STOP = """
from clinextract.engines.embedded import EmbeddedEngine
from clinextract.settings import Settings
EmbeddedEngine(Settings(parallel=8)).close()
print("closed")
"""
RAW_START_STOP = """
import xllamacpp
from clinextract.engines.embedded import bundled_model
params = xllamacpp.CommonParams()
params.model.path = str(bundled_model()[0])
params.n_parallel, params.n_ctx, params.verbosity = 8, 8 * 4096, -1
params.hostnames, params.port = ["127.0.0.1"], 0
server = xllamacpp.Server(params)
server = None
print("closed")
"""


def _bounded(cmd: list[str], limit: float, interrupt_after: float | None = None) -> int | None:
    """The exit status, or None when the process had to be killed after `limit` s."""
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def run(
    work: Path, tries: int, limit: float = 180, reference: int = 0, load: int = 2, seed: int = 9
) -> Tally:
    rng = random.Random(seed)
    tally = Tally("hangs")
    ragged = write_task(work / "ragged", make_reports(6))
    with (ragged / "data" / "reports.csv").open("a") as fh:
        fh.write('999,"a ragged row",one,two\n')
    good = write_task(work / "good", make_reports(6))
    with cpu_load(load):
        for n in range(tries):
            started = time.monotonic()
            status = _bounded(["clinextract", "run", *cli_args(ragged)], limit)
            tally.add("ragged row: runs")
            if status != 2:
                tally.problems.append(f"ragged row, try {n}: exit {status}")
            tally.figures["ragged row: slowest exit (s)"] = max(
                tally["ragged row: slowest exit (s)"], round(time.monotonic() - started, 1)
            )
            after = rng.uniform(0.5, 12)
            status = _bounded(
                ["clinextract", "run", *cli_args(good, "--run-name", f"i{n}")],
                limit,
                interrupt_after=after,
            )
            tally.add("Ctrl+C in the first seconds: runs")
            if status is None:
                tally.problems.append(f"Ctrl+C after {after:.1f} s, try {n}: hung")
            elif status not in (0, 130):
                tally.problems.append(f"Ctrl+C after {after:.1f} s, try {n}: exit {status}")
            status = _bounded([sys.executable, "-c", START_STOP], limit)
            tally.add("engine start and stop: runs")
            if status != 0:
                tally.problems.append(
                    f"engine start and stop, try {n}: "
                    f"{'hung' if status is None else f'exit {status}'}"
                )
        for _ in range(reference):
            tally.add("reference, xllamacpp without the first request: runs")
            if _bounded([sys.executable, "-c", RAW_START_STOP], limit) is None:
                tally.add("reference, xllamacpp without the first request: hangs")
    tally.figures["hangs"] = sum(1 for p in tally.problems if "hung" in p)
    return tally
