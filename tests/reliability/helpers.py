"""What the reliability campaign's cases share: a small task on disk, the CLI in a process
of its own (tests/reliability/child.py, with the fake engine and injected faults when
asked), CPU load, and the checks every case ends with: every input row exactly once, in
input order, the inputs unchanged, no value the engine did not give."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.paths import ROOT

TASK_NAME = "Task001_rel"
VALUE_SPEC = {
    "Description": "Give the value mentioned in the report.",
    "Data_Path": "reports.csv",
    "Input_Field": "text",
    "Id_Field": "uid",
    "Parser_Format": {"value": {"type": "int", "optional": True}},
}
WORDS = "lorem ipsum nodus thorax follow-up beeld verslag geen afwijkingen".split()


def make_reports(n: int, seed: int = 0) -> list[str]:
    """Reports of varied length, each with its own first number; every 7th needs a repair
    (the fake engine answers it with prose first)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40)))
        marker = " needs-repair" if i % 7 == 3 else ""
        out.append(f"report {i}: the value is {1000 + i}{marker}. {filler}")
    return out


def write_task(root: Path, reports: list[str], spec: dict[str, Any] | None = None) -> Path:
    """tasks/Task001_rel.json and data/reports.csv (uid "007"-style strings, the report,
    and a note column with commas, quotes and non-ASCII text) under `root`."""
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "tasks" / f"{TASK_NAME}.json").write_text(json.dumps(spec or VALUE_SPEC))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["uid", "text", "note"])
    for n, text in enumerate(reports):
        writer.writerow([f"{n:03d}", text, f'é, "{n}" ; ok'])
    (root / "data" / "reports.csv").write_text(buf.getvalue(), encoding="utf-8")
    return root


def input_rows(root: Path) -> list[dict[str, str]]:
    with (root / "data" / "reports.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def run_folder(root: Path, run_name: str = "run") -> Path:
    return root / "out" / run_name / f"{TASK_NAME}-run0"


def cli_args(root: Path, *extra: str) -> list[str]:
    return [
        "--task-id",
        "1",
        "--task-dir",
        str(root / "tasks"),
        "--data-dir",
        str(root / "data"),
        "--output-dir",
        str(root / "out"),
        *extra,
    ]


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.update(COLUMNS="200", TERM="dumb", PYTHONPATH=str(ROOT), **extra)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    for key in ("CLINEXTRACT_API_KEY", "OPENAI_API_KEY"):
        out.pop(key, None)
    return out


def child_command(
    root: Path,
    *extra: str,
    fake: bool = True,
    crash: str | None = None,
    fail: str | None = None,
    audit: Path | None = None,
) -> list[str]:
    cmd = [sys.executable, "-m", "tests.reliability.child"]
    cmd += ["--fake"] if fake else []
    cmd += ["--crash", crash] if crash else []
    cmd += ["--fail", fail] if fail else []
    cmd += ["--audit", str(audit)] if audit else []
    return [*cmd, "--", *cli_args(root, *extra)]


def run_child(
    root: Path,
    *extra: str,
    timeout: float = 180,
    environ: dict[str, str] | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        child_command(root, *extra, **kw),
        cwd=ROOT,
        env=environ or env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(root: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed `clinextract run` itself (no fixture around it)."""
    return subprocess.run(
        ["clinextract", "run", *cli_args(root, *extra)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """What the run told the user on stderr, without progress bars and start-up notes."""
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    return [line for line in lines if not _PROGRESS.search(line)]


_PROGRESS = re.compile(r"docs/s|starting the |resuming, |\d+/\d+|━")


def one_line_error(proc: subprocess.CompletedProcess) -> str | None:
    """The single error line of a run that failed cleanly, or None when it did not (a
    traceback, several error lines, no message)."""
    if "Traceback" in proc.stderr:
        return None
    errors = [line for line in stderr_lines(proc) if "error" in line.lower()]
    return errors[0] if len(errors) == 1 else None


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Tally:
    """One part of the campaign: its figures (counts, in the order they were first
    added) and every problem found (a problem is a broken promise)."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.figures[key] = self.figures.get(key, 0) + n

    def counter(self, key: str) -> Counter[str]:
        return self.figures.setdefault(key, Counter())

    def __getitem__(self, key: str) -> Any:
        return self.figures.get(key, 0)

    def record(self, check: Check, where: str) -> None:
        """Count what a finished run folder shows (`check_run`); any break is a problem."""
        self.add("records lost", check.lost)
        self.add("records duplicated", check.duplicated)
        self.add("fabricated values", check.fabricated)
        if not check.ok:
            self.problems.append(f"{where}: {check}")


@dataclass
class Check:
    """What one finished run folder shows against its inputs."""

    rows: int = 0
    lost: int = 0  # input rows without a record / prediction
    duplicated: int = 0  # extra records or predictions for a row
    out_of_order: int = 0
    inputs_changed: int = 0  # input columns that differ in the predictions
    fabricated: int = 0  # a value the engine did not give (see `expected`)
    unexplained_failures: int = 0  # a failed row without its error
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.out_of_order
            or self.inputs_changed
            or self.fabricated
            or self.unexplained_failures
        )


def check_run(root: Path, expected: dict[int, Any] | None = None, run_name: str = "run") -> Check:
    """Every input row exactly once, in order, its columns unchanged, in both the
    checkpoint and the predictions. `expected` maps a row to the only value a successful
    row may hold (what the engine answered for it)."""
    rows = input_rows(root)
    folder = run_folder(root, run_name)
    check = Check(rows=len(rows))
    lines = [
        json.loads(x) for x in (folder / "records.jsonl").read_text().splitlines() if x.strip()
    ]
    per_row = Counter(rec["row"] for rec in lines)
    check.lost += sum(1 for n in range(len(rows)) if per_row[n] == 0)
    check.duplicated += sum(c - 1 for c in per_row.values() if c > 1)
    predictions_path = folder / "nlp-predictions-dataset.json"
    if not predictions_path.exists():
        check.lost = max(check.lost, len(rows))
        check.problems.append("no predictions file")
        return check
    predictions = json.loads(predictions_path.read_text(encoding="utf-8"))
    uids = [p.get("uid") for p in predictions]
    check.duplicated += max(0, len(predictions) - len(rows))
    check.lost = max(check.lost, len(rows) - len(set(uids)))
    if uids != [r["uid"] for r in rows][: len(uids)] or len(uids) != len(rows):
        check.out_of_order += 1
        check.problems.append("predictions not in input order")
    for row, pred in zip(rows, predictions, strict=False):
        if {k: pred.get(k) for k in row} != row:
            check.inputs_changed += 1
    for n, pred in enumerate(predictions):
        if pred["status"] == "success":
            if expected is not None and pred.get("value") != expected.get(n):
                check.fabricated += 1
                check.problems.append(f"row {n}: value {pred.get('value')!r}")
        elif not pred.get("error"):
            check.unexplained_failures += 1
    return check


def expected_values(reports: list[str]) -> dict[int, int | None]:
    """What the fake engine and the fault server answer: each report's first number."""
    out = {}
    for n, text in enumerate(reports):
        found = re.search(r"\d+", text)
        out[n] = int(found.group()) if found else None
    return out


# --- load -----------------------------------------------------------------------------------

BURN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


@contextmanager
def cpu_load(processes: int = 2, seconds: float = 900):
    """Processes that keep the cores busy while the block runs (stopped after it)."""
    burners = [  # (none with processes=0)
        subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)])
        for _ in range(processes)
    ]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
        for proc in burners:
            proc.wait()


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def record_count(root: Path) -> int:
    path = run_folder(root) / "records.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0
