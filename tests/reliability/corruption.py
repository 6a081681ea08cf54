"""Corrupted checkpoints: a garbage line, a line truncated in the middle, valid JSON of
another shape, the same row twice, a record of another row's text. The same command
again must compute exactly the damaged rows again, keep every other line byte for byte,
say so in one warning line, and end with the predictions of an undamaged run."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from tests.reliability.helpers import (
    Tally,
    check_run,
    env,
    expected_values,
    make_reports,
    run_child,
    run_folder,
    sha,
    stderr_lines,
    write_task,
)

KINDS = ("garbage line", "truncated line", "another shape", "row twice", "other row's text")


def corrupt(lines: list[bytes], kind: str, rng: random.Random) -> tuple[list[bytes], int]:
    """The checkpoint's lines with one corruption; returns them and the damaged row."""
    n = rng.randrange(1, len(lines) - 1)  # a line in the middle
    row = json.loads(lines[n])["row"]
    out = list(lines)
    if kind == "garbage line":
        out[n] = bytes(rng.choice(b'{}[]",:abc\x00\xff 0123') for _ in range(40)) + b"\n"
        out[n] = out[n].replace(b"\n", b" ")[:-1] + b"\n"
    elif kind == "truncated line":
        out[n] = lines[n][: rng.randrange(1, len(lines[n]) - 2)] + b"\n"
    elif kind == "another shape":
        other = rng.choice([[1, 2], {"row": str(row), "status": "success"}, {"row": row}, "x"])
        out[n] = json.dumps(other).encode() + b"\n"
    elif kind == "row twice":
        out.insert(rng.randrange(n + 1, len(out) + 1), lines[n])
    elif kind == "other row's text":
        donor = json.loads(lines[(n + 1) % len(lines)])
        out[n] = json.dumps({**donor, "row": row}, ensure_ascii=False).encode() + b"\n"
    return out, row


def run(work: Path, cases: int, seed: int = 5, rows: int = 24) -> Tally:
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    tally = Tally("corrupted checkpoints")
    base = write_task(work / "base", reports)
    first = run_child(base, "--parallel", "4")
    if first.returncode != 0:
        tally.problems.append(f"the first run failed: {first.stderr[-400:]}")
        return tally
    records = run_folder(base) / "records.jsonl"
    wanted = sha(run_folder(base) / "nlp-predictions-dataset.json")
    kinds = tally.counter("kinds")
    for case in range(cases):
        kind = KINDS[case % len(KINDS)]
        root = work / f"corrupt{case:03d}"
        shutil.copytree(base, root)
        lines = (root / records.relative_to(base)).read_bytes().splitlines(keepends=True)
        damaged, row = corrupt(lines, kind, rng)
        (run_folder(root) / "records.jsonl").write_bytes(b"".join(damaged))
        log = root / "requests.jsonl"
        proc = run_child(root, "--parallel", "4", environ=env(FAKE_LOG=str(log)))
        kinds[kind] += 1
        tally.add("cases")
        where = f"case {case} ({kind}, row {row})"
        if proc.returncode != 0 or "Traceback" in proc.stderr:
            tally.problems.append(f"{where}: exit {proc.returncode}: {proc.stderr[-300:]}")
            continue
        asked = [json.loads(x)["report"] for x in log.read_text().splitlines()]
        recomputed = sorted({reports.index(r) for r in asked if r in reports})
        tally.add("rows computed again", len(recomputed))
        if recomputed != [row]:
            tally.problems.append(f"{where}: rows computed again {recomputed}, not [{row}]")
        warnings = [x for x in stderr_lines(proc) if "checkpoint" in x]
        if len(warnings) != 1:
            tally.problems.append(f"{where}: {len(warnings)} warning lines: {warnings}")
        kept = _lines_by_row(run_folder(root) / "records.jsonl")
        before = _lines_by_row(records)
        changed = [r for r in before if r != row and kept.get(r) != before[r]]
        if changed:
            tally.problems.append(f"{where}: lines of rows {changed} were not kept as they were")
        tally.record(check_run(root, expected_values(reports)), where)
        if sha(run_folder(root) / "nlp-predictions-dataset.json") != wanted:
            tally.problems.append(f"{where}: predictions differ from the undamaged run's")
    return tally


def _lines_by_row(path: Path) -> dict[int, bytes]:
    out = {}
    for line in path.read_bytes().splitlines(keepends=True):
        out[json.loads(line)["row"]] = line
    return out
