"""`make bench-fields`: field-level failures before and after (issue 17), side by side.

    .venv/bin/python bench/fields.py                 # 48 reports, writes bench/FIELDS.md
    .venv/bin/python bench/fields.py --docs 12       # a quick look

The same task (bench/fields_task.py: six fields, two unbounded `Optional[int]`) runs with
the code of another revision (`--before`, default: main before issue 17) and with this
checkout, zero-shot and with 2 examples, alternating, each run in its own process with the
bundled model. Per variant: rows with every field null, partial rows, per-field accuracy
over all rows (a null where the truth has a value is wrong), requests and output tokens
per document, docs/s (the run's own figure, model load not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fields_task import FIELDS, TASK_NAME, make_reports, write_task  # noqa: E402

BEFORE = "1a64d18"  # main with issue 10, before field-level failures


def source_tree(rev: str, into: Path) -> Path:
    """`src/` of a revision, unpacked (no worktree left behind)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_variant(src: Path, task: Path, out: Path, shots: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "200", "TERM": "dumb"}
    data = task.parent.parent / "data"
    args = [sys.executable, "-m", "clinextract.cli", "run", str(task), "--data-dir", str(data)]
    args += ["--example-dir", str(data), "--num-examples", str(shots), "--overwrite"]
    args += ["--output-dir", str(out), "--run-name", "r", "--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({src}): {done.stderr[-2000:]}")
    run_dir = out / "r" / f"{TASK_NAME}-run0"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    records = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    preds = json.loads((run_dir / "nlp-predictions-dataset.json").read_text())
    return {
        "wall": time.perf_counter() - started,
        "manifest": manifest,
        "records": records,
        "predictions": preds,
    }


def measure(result: dict[str, Any], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    preds, records = result["predictions"], result["records"]
    n = len(preds)
    all_null = sum(all(p[f] is None for f in FIELDS) for p in preds)
    partial = sum(p["status"] == "partial" for p in preds)
    failure = sum(p["status"] == "failure" for p in preds)
    accuracy = {f: sum(p[f] == truth[p["uid"]][f] for p in preds) / n for f in FIELDS}
    bounded = sum(
        isinstance(p[f], int) and not isinstance(p[f], bool) and abs(p[f]) >= 100_000
        for p in preds
        for f in ("leeftijd", "grootte_mm")
    )
    return {
        "rows": n,
        "all_null": all_null,
        "partial": partial,
        "failure": failure,
        "accuracy": accuracy,
        "mean_accuracy": sum(accuracy.values()) / len(FIELDS),
        "requests_per_doc": sum(r.get("attempts", 0) for r in records) / n,
        "output_tokens_per_doc": sum(r.get("completion_tokens", 0) for r in records) / n,
        "docs_per_s": result["manifest"]["timings"]["docs_per_s"],
        "runaway_values_reported": bounded,
    }


def table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    head = (
        "| variant | rows all-null | partial | failure | mean accuracy | requests/doc "
        "| output tokens/doc | docs/s | run-away values kept as data |"
    )
    lines = [head, "|" + "---|" * 9]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['all_null']}/{m['rows']} | {m['partial']} | {m['failure']} "
            f"| {m['mean_accuracy']:.1%} | {m['requests_per_doc']:.2f} "
            f"| {m['output_tokens_per_doc']:.1f} | {m['docs_per_s']:.2f} "
            f"| {m['runaway_values_reported']} |"
        )
    lines += ["", "Per-field accuracy over all rows:", ""]
    lines.append("| variant | " + " | ".join(FIELDS) + " |")
    lines.append("|" + "---|" * (len(FIELDS) + 1))
    for name, m in rows:
        cells = " | ".join(f"{m['accuracy'][f]:.0%}" for f in FIELDS)
        lines.append(f"| {name} | {cells} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--before", default=BEFORE, help="revision to compare with")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "FIELDS.md")
    args = parser.parse_args(argv)
    reports = make_reports(args.docs)
    examples = make_reports(8, seed=4242)
    truth = {r.id: r.truth for r in reports}
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="clinextract-fields-") as tmp:
        tmp_path = Path(tmp)
        task = write_task(tmp_path / "task", reports, examples)
        before = source_tree(args.before, tmp_path / "before")
        after = ROOT / "src"
        for shots in (0, 2):
            order = [("before", before), ("after", after)]
            for name, src in order if shots == 0 else order[::-1]:
                label = f"{name} ({args.before if name == 'before' else 'this checkout'}), "
                label += f"{shots}-shot"
                print(f"running {label} ...", flush=True)
                result = run_variant(src, task, tmp_path / f"{name}-{shots}", shots, args.threads)
                rows.append((label, measure(result, truth)))
                print("  " + table([rows[-1]])[2], flush=True)
    rows.sort(key=lambda r: (r[0].split(", ")[1], r[0]))
    lines = [
        "# Field-level failures: before and after (issue 17)",
        "",
        f"Written by `make bench-fields` ({args.docs} synthetic Dutch reports, bundled "
        "model, temperature 0, variants alternated in one session, each run in its own "
        f"process with `--threads {args.threads}`). Task: `bench/fields_task.py` (two "
        "enums, a short string, a boolean and two `Optional[int]` without bounds: age in "
        "years and size in mm, both stated in every report). Accuracy is over all rows: "
        "a null where the report states a value counts as wrong. docs/s is each run's own "
        "figure (model load not counted) and is noisy on a shared machine; compare the "
        "counts first.",
        "",
        *table(rows),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
