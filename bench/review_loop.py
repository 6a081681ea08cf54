"""`make bench-review`: the review loop, measured on the bundled example; writes
bench/REVIEW_LOOP.md.

    .venv/bin/python bench/review_loop.py                          # k = 4 8, 3 seeds
    .venv/bin/python bench/review_loop.py --docs 8 --ks 2 --seeds 1 --out /tmp/x.md

1. Run every report with no examples (the task's own Example_Path is not used).
2. Simulate a reviewer from the gold labels (examples/data/radiology_gold.csv) on k
   records, chosen (a) as the Studio's review queue offers them (needs_review first, then
   the lowest confidence) or (b) at random (each seed); the labels go in through
   `RunReview.import_gold`, the code of `clinextract review import`.
3. Run the other reports again with `--examples-from` that run (`--num-examples` 3, the
   number "auto" uses; BM25 picks them from the k reviewed records).
4. Score before and after on those other reports with `clinextract.evaluation` (the
   code of `clinextract evaluate`): per field accuracy with 95 % bootstrap intervals.

One engine (the bundled model) is loaded once and shared by every run; the run folders
go to bench/out/review_loop/.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from clinextract.data import DataSource  # noqa: E402
from clinextract.engines import create_engine  # noqa: E402
from clinextract.evaluation import evaluate, run_values  # noqa: E402
from clinextract.gold import read_gold  # noqa: E402
from clinextract.pipeline import run_task  # noqa: E402
from clinextract.review import RunReview  # noqa: E402
from clinextract.settings import Settings  # noqa: E402
from clinextract.studio.reviewing import queue  # noqa: E402
from clinextract.task import load_task  # noqa: E402

EXAMPLES = ROOT / "examples"
TASK = EXAMPLES / "tasks" / "Task001_dutch_radiology.json"
GOLD = EXAMPLES / "data" / "radiology_gold.csv"
OUT = ROOT / "bench" / "out" / "review_loop"
RESULTS = ROOT / "bench" / "REVIEW_LOOP.md"
SHOTS = 3  # examples per report after the review (what "auto" uses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=None, help="only the first N reports")
    parser.add_argument("--ks", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seeds", type=int, default=3, help="random choices per k")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    rows = read_rows(EXAMPLES / "data" / "radiology_reports.csv", args.docs)
    data = write_rows(OUT / "reports.csv", rows)
    base = Settings(
        output_dir=OUT, example_dir=EXAMPLES / "data", parallel=args.parallel, num_examples=0
    )
    task = replace(load_task(TASK, base), example_path=None)  # start with no examples
    engine = create_engine(base)
    started = time.monotonic()
    try:
        say(f"baseline: {len(rows)} reports, no examples")
        before_dir = run(task, base, engine, "before", data)
        before = RunReview(before_dir)
        gold = read_gold(GOLD, before.columns, id_field="uid")
        kinds = {c.path: c.kind for c in before.columns}
        order = [i.id for i in queue(before)]  # what the Studio offers first
        results = []
        for k in args.ks:
            choices = [("lowest confidence", order[:k])]
            ids = [r["uid"] for r in rows if r["uid"] in gold]
            for seed in range(args.seeds):
                choices.append((f"random (seed {seed})", random.Random(seed).sample(ids, k)))
            for how, chosen in choices:
                say(f"k={k}, {how}: reviewing {', '.join(chosen)}")
                reviewed_dir = reviewed_copy(before_dir, gold, chosen, f"k{k}-{slug(how)}")
                rest = [r for r in rows if r["uid"] not in chosen]
                rest_data = write_rows(OUT / f"rest-k{k}-{slug(how)}.csv", rest)
                again = base.model_copy(
                    update={"num_examples": SHOTS, "examples_from": [reviewed_dir]}
                )
                after_dir = run(task, again, engine, f"after-k{k}-{slug(how)}", rest_data)
                runs = {
                    "before": run_values(before.records, before.columns),
                    "after": run_values(RunReview(after_dir).records, before.columns),
                }
                scored = evaluate(runs, gold, kinds)
                results.append((k, how, chosen, scored))
    finally:
        engine.close()
    seconds = time.monotonic() - started
    args.out.write_text(report(results, len(rows), args, seconds), encoding="utf-8")
    say(f"wrote {args.out} ({seconds / 60:.1f} min)")


def say(message: str) -> None:
    print(f"[review-loop] {message}", flush=True)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def read_rows(path: Path, docs: int | None) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows[:docs] if docs else rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(task: Any, settings: Settings, engine: Any, name: str, data: Path) -> Path:
    source = DataSource(data, task.input_field, task.id_field)
    use = settings.model_copy(update={"run_name": name})
    (summary,) = run_task(task, use, source=source, engine=engine)
    return summary.run_dir


def reviewed_copy(before: Path, gold: dict, chosen: list[str], name: str) -> Path:
    """The baseline run folder, copied, with the gold labels of `chosen` as decisions of
    a simulated reviewer (`clinextract review import`'s code)."""
    target = OUT / "reviewed" / name / before.name
    shutil.copytree(before, target)
    review = RunReview(target)
    review.import_gold({i: gold[i] for i in chosen}, "simulated")
    return target


def report(results: list, docs: int, args: argparse.Namespace, seconds: float) -> str:
    info = machine.describe()
    fields = [s.field for s in results[0][3].scores["before"]] if results else []
    lines = [
        "# The review loop, measured",
        "",
        f"`make bench-review` (bench/review_loop.py), {dt.date.today().isoformat()}: the "
        f"bundled example ({docs} Dutch radiology reports), the bundled model, "
        f"--parallel {args.parallel}, {seconds / 60:.1f} min in all.",
        f"Machine: {info.get('cpu', '?')}, {info.get('cores', '?')} cores.",
        "",
        "Before: every report with no examples. After: a simulated reviewer (the gold "
        "labels) reviewed k records, chosen as the Studio's queue offers them (needs "
        "review first, then the lowest confidence) or at random; the other reports ran "
        f"again with `--examples-from` that run and `--num-examples {SHOTS}`. Both are "
        "scored on those other reports only (per field accuracy, 95 % bootstrap interval).",
        "",
        "| k | chosen | field | n | before | after | gain |",
        "|---|---|---|---|---|---|---|",
    ]
    gains: dict[tuple[int, str], list[float]] = {}
    for k, how, _, scored in results:
        before = {s.field: s for s in scored.scores["before"]}
        after = {s.field: s for s in scored.scores["after"]}
        for f in fields:
            b, a = before[f], after[f]
            gain = a.accuracy - b.accuracy
            gains.setdefault((k, "lowest" if how.startswith("lowest") else "random"), []).append(
                gain
            )
            lines.append(f"| {k} | {how} | {f} | {a.n} | {cell(b)} | {cell(a)} | {gain:+.2f} |")
    lines += [
        "",
        "## Mean gain over the fields",
        "",
        "| k | lowest confidence | random | (a) − (b) |",
    ]
    lines.append("|---|---|---|---|")
    for k in args.ks:
        low = mean(gains.get((k, "lowest"), [0.0]))
        rnd = mean(gains.get((k, "random"), [0.0]))
        lines.append(f"| {k} | {low:+.3f} | {rnd:+.3f} | {low - rnd:+.3f} |")
    lines += [
        "",
        "Random rows are the mean over the seeds. The intervals of the small samples are "
        "wide: a gain inside them is not evidence of one. What this measures is what a "
        "small base model gains from a handful of reviewed examples of the same task.",
        "",
    ]
    return "\n".join(lines)


def cell(score: Any) -> str:
    if score.accuracy is None:
        return "—"
    ci = score.accuracy_ci
    return f"{score.accuracy:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{score.accuracy:.2f}"


if __name__ == "__main__":
    main()
