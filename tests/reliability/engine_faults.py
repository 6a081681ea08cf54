"""Engine faults under CPU load, with the real `clinextract run` and its OpenAI-compatible
engine against the scripted fault server on 127.0.0.1 (tests/reliability/fault_modes.py):
the server restarting mid-run, answering slowly for a while, returning HTTP 500 for every
fifth request, cutting the connection in the middle of an answer. Each run completes, or
stops with exit 1 and one line and then completes when run again; no value is one the
server did not give, every failed row has its error."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from tests.engines.helpers import free_port
from tests.paths import ROOT
from tests.reliability.helpers import (
    Tally,
    check_run,
    cli_args,
    cpu_load,
    env,
    expected_values,
    make_reports,
    one_line_error,
    record_count,
    run_cli,
    wait_for,
    write_task,
)


class FaultProcess:
    """tests/reliability/fault_modes.py as a process on a fixed port (so it can restart)."""

    def __init__(self, port: int, mode: str):
        self.port, self.mode = port, mode
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self) -> FaultProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.fault_modes", str(self.port), self.mode],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert "fault server at" in self.proc.stdout.readline()
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _openai(server: FaultProcess, *extra: str) -> list[str]:
    return [
        "--engine",
        "openai",
        "--base-url",
        server.url,
        "--concurrency",
        "4",
        "--max-failures",
        "4",
        "--timeout",
        "20",
        *extra,
    ]


def run(
    work: Path,
    modes: tuple[str, ...] = ("every5", "cut", "slow:2:60"),
    restart_pause: tuple[float, ...] = (2.0, 15.0),
    seed: int = 3,
    rows: int = 30,
    load: int = 2,
) -> Tally:
    """Each mode (see fault_modes.py), then a server that goes away mid-run and is back
    after each pause, with `load` CPU-burning processes beside the run."""
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    expected = expected_values(reports)
    tally = Tally("engine faults under load")
    cases = [(mode, None) for mode in modes] + [("ok", pause) for pause in restart_pause]
    with cpu_load(load):
        for n, (mode, pause) in enumerate(cases):
            root = write_task(work / f"fault{n}", reports)
            label = f"server restarts after {pause:g} s" if pause is not None else mode
            server = FaultProcess(free_port(), mode).start()
            try:
                first = _run_with(server, root, pause, rng)
            finally:
                server.kill()
            tally.add("cases")
            outcome = tally.counter("first run")
            if first.returncode == 0:
                outcome[f"{label}: completed"] += 1
            elif first.returncode == 1 and one_line_error(first):
                outcome[f"{label}: exit 1, one line"] += 1
            else:
                tally.problems.append(f"{label}: exit {first.returncode}: {first.stderr[-400:]}")
            server = FaultProcess(free_port(), "ok").start()
            try:  # the same command again (the server is back, at another port)
                again = run_cli(root, *_openai(server))
            finally:
                server.kill()
            if again.returncode != 0:
                tally.problems.append(f"{label}: resume exit {again.returncode}")
                continue
            check = check_run(root, expected)
            tally.record(check, label)
            tally.add("failed rows without their error", check.unexplained_failures)
    return tally


def _run_with(
    server: FaultProcess, root: Path, pause: float | None, rng: random.Random
) -> subprocess.CompletedProcess:
    if pause is None:
        return run_cli(root, *_openai(server))
    proc = subprocess.Popen(
        ["clinextract", "run", *cli_args(root, *_openai(server))],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    after = rng.randint(3, 10)
    wait_for(lambda: record_count(root) >= after or proc.poll() is not None, 120)
    server.kill()  # the server goes away mid-run ...
    time.sleep(pause)
    server.start()  # ... and comes back on the same port
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
