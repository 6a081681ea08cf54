"""Kill -9 at random moments, then the same command again.

A moment is a point in the run (a request, a repair, an append to the checkpoint, the
final write, a manifest write, the lock, the recovery's rewrite) and how many times it
has been reached, or a random time after the start. Some cases are killed a second time
while they resume. After the last, uninterrupted, run of the same command: one record
per input row, in input order, inputs unchanged, and, with the deterministic fake
engine, a predictions file byte-identical to an uninterrupted run's.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import time
from pathlib import Path

from clinextract.schema import OutputSchema
from tests.paths import EXAMPLES, ROOT
from tests.reliability.helpers import (
    Tally,
    check_run,
    child_command,
    env,
    expected_values,
    input_rows,
    make_reports,
    record_count,
    run_child,
    run_folder,
    sha,
    wait_for,
    write_task,
)

POINTS = ("request", "repair", "append", "final", "manifest", "lock", "time")


def _moment(rng: random.Random, rows: int) -> str:
    point = rng.choice(POINTS)
    n = {
        "request": rng.randint(1, rows),
        "repair": rng.randint(1, max(1, rows // 7)),
        "append": rng.randint(1, rows),
        "manifest": rng.randint(1, 2),
    }.get(point, 1)
    return point if point == "time" else f"{point}:{n}"


def _killed_run(root: Path, moment: str, parallel: int, rng: random.Random) -> int:
    """One run killed at `moment`; returns its exit status (-9 when it was killed)."""
    args = ("--parallel", str(parallel))
    if moment != "time":
        return run_child(root, *args, crash=moment).returncode
    proc = subprocess.Popen(
        child_command(root, *args),
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0.3, 3.0))  # from the interpreter's start to past the run's end
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def fake_engine_kills(work: Path, kills: int, seed: int = 13, rows: int = 30) -> Tally:
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    expected = expected_values(reports)
    tally = Tally("kill -9, fake engine")
    reference = write_task(work / "reference", reports)
    done = run_child(reference, "--parallel", "1")
    if done.returncode != 0:
        tally.problems.append(f"the uninterrupted run failed: {done.stderr[-500:]}")
        return tally
    wanted = sha(run_folder(reference) / "nlp-predictions-dataset.json")
    data_sha = sha(reference / "data" / "reports.csv")
    points = tally.counter("moments")
    for case in range(kills):
        root = write_task(work / f"kill{case:03d}", reports)
        parallel = rng.choice((1, 8))
        moments = [_moment(rng, rows)]
        if rng.random() < 0.35:  # killed again while resuming
            moments.append(rng.choice([_moment(rng, rows), "recover:1"]))
        for n, moment in enumerate(moments):
            status = _killed_run(root, moment, parallel, rng)
            label = moment.split(":")[0] + (" (resuming)" if n else "")
            points[label] += 1
            tally.add("kills" if status == -9 else "runs that ended before the kill")
        final = run_child(root, "--parallel", str(parallel))
        tally.add("cases")
        if final.returncode != 0:
            tally.problems.append(
                f"case {case} {moments}: exit {final.returncode}: {final.stderr[-300:]}"
            )
            continue
        check = check_run(root, expected)
        tally.record(check, f"case {case} {moments}")
        tally.add("rows out of order", check.out_of_order)
        tally.add("input columns changed", check.inputs_changed)
        if "Traceback" in final.stderr:
            tally.problems.append(f"case {case}: a traceback")
        if sha(run_folder(root) / "nlp-predictions-dataset.json") == wanted:
            tally.add("byte-identical to the uninterrupted run")
        else:
            tally.problems.append(f"case {case} {moments}: predictions differ")
        if sha(root / "data" / "reports.csv") != data_sha:
            tally.problems.append(f"case {case}: the input file changed")
    return tally


# --- the real model --------------------------------------------------------------------------


def _example_task(root: Path, rows: int) -> Path:
    """The bundled Dutch radiology example's first rows, as a task folder of its own."""
    task = json.loads((EXAMPLES / "tasks" / "Task001_dutch_radiology.json").read_text())
    (root / "tasks" / "parsers").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "tasks" / "Task001_rel.json").write_text(json.dumps(task))
    parser = EXAMPLES / "tasks" / "parsers" / task["Parser_Format"]
    (root / "tasks" / "parsers" / parser.name).write_bytes(parser.read_bytes())
    with (EXAMPLES / "data" / task["Data_Path"]).open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    with (root / "data" / "reports.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table[: rows + 1])
    task["Data_Path"] = "reports.csv"
    (root / "tasks" / "Task001_rel.json").write_text(json.dumps(task))
    examples = EXAMPLES / "data" / task["Example_Path"]
    (root / "data" / task["Example_Path"]).write_bytes(examples.read_bytes())
    return root


def real_model_kills(work: Path, kills: int, seed: int = 7, rows: int = 8) -> Tally:
    """Kill -9 a run of the real embedded model after a random number of records (or
    during start-up), resume, and check every record is valid for the schema."""
    from clinextract.settings import Settings
    from clinextract.task import load_task

    rng = random.Random(seed)
    tally = Tally("kill -9, real model")
    for case in range(kills):
        root = _example_task(work / f"model{case:02d}", rows)
        parallel = (1, 8)[case % 2]
        args = [
            "--parallel",
            str(parallel),
            "--num-examples",
            "1",
            "--example-dir",
            str(root / "data"),
            "--max-tokens",
            "128",
        ]
        proc = subprocess.Popen(
            child_command(root, *args, fake=False),
            cwd=ROOT,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        after = rng.randint(0, rows - 2)  # 0: during start-up
        if after:
            wait_for(lambda: record_count(root) >= after or proc.poll() is not None, 600)  # noqa: B023
        else:
            time.sleep(rng.uniform(0.5, 8))
        proc.send_signal(signal.SIGKILL)
        tally.add("kills" if proc.wait() == -9 else "runs that ended before the kill")
        final = run_child(root, *args, fake=False, timeout=900)
        tally.add("cases")
        if final.returncode != 0 or "Traceback" in final.stderr:
            tally.problems.append(
                f"model case {case}: exit {final.returncode}: {final.stderr[-300:]}"
            )
            continue
        tally.record(check_run(root), f"model case {case}")
        task = load_task(root / "tasks" / "Task001_rel.json", Settings(data_dir=root / "data"))
        tally.add("records checked", _invalid_records(root, task.schema, tally))
        tally.add("rows", len(input_rows(root)))
    return tally


def _invalid_records(root: Path, schema: OutputSchema, tally: Tally) -> int:
    """Checks every record: a success validates against the schema, a failure has its
    error and only null fields. Returns how many records were checked."""
    lines = (run_folder(root) / "records.jsonl").read_text().splitlines()
    for line in lines:
        rec = json.loads(line)
        if rec["status"] == "success":
            try:
                schema.validate_json(json.dumps(rec["fields"]))
            except ValueError as exc:
                tally.problems.append(f"row {rec['row']}: invalid success record ({exc})")
        elif not rec.get("error") or any(v is not None for v in rec["fields"].values()):
            tally.problems.append(f"row {rec['row']}: failure without its error, or not null")
    return len(lines)
