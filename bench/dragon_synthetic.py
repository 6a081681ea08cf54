"""Run the nine synthetic DRAGON jobs with the embedded model, score them, write the report.

    make dragon-synthetic                       # every test case, k = 0, 5, 10
    python bench/dragon_synthetic.py --limit 50 # the first 50 test cases of each job
    python bench/dragon_synthetic.py --report-only   # re-score what is on disk

Predictions go to output/dragon-synthetic/k<K>/<Task>-fold0/ (resumable: a killed run
continues where it stopped). Scores come from `clinextract.dragon.evaluate` (the official
dragon_eval package when installed). With --limit, the ground truth is cut to the same
cases before scoring (an exact subset, never different cases). The report,
bench/dragon_synthetic.md, also scores the ablations kept by the runner: hard 0/1 labels
instead of probabilities (binary tasks) and first-match tagging instead of the alignment
(NER tasks). Nothing in this script reads the ground truth before the runs are finished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "dragon" / "synthetic"
OUT = ROOT / "output" / "dragon-synthetic"
REPORT = ROOT / "bench" / "dragon_synthetic.md"
ROBERTA = 0.803  # fine-tuned RoBERTa baseline on these synthetic jobs (issue 6)


def run(args: argparse.Namespace) -> None:
    from clinextract.dragon.inputs import TokenCounter
    from clinextract.dragon.jobs import find_jobs
    from clinextract.dragon.runner import run_job
    from clinextract.engines import create_engine
    from clinextract.settings import Settings

    jobs = find_jobs(args.input, args.tasks, ())
    base = Settings(parallel=args.parallel, ctx_per_slot=args.ctx_per_slot, threads=args.threads)
    with create_engine(base) as engine:
        count = TokenCounter(engine)
        for k in args.k:
            settings = base.model_copy(update={"num_examples": k})
            for job in jobs:
                started = time.time()
                result = run_job(
                    job, settings, engine, OUT / f"k{k}", count=count, limit=args.limit
                )
                s = result.summary
                timing = {
                    "seconds": round(s.seconds, 1),
                    "docs_per_s": round(s.docs_per_s, 4),
                    "computed": s.rows - s.reused,
                    "failures": s.failures,
                    "load_avg": os.getloadavg()[0],
                    "wall": round(time.time() - started, 1),
                }
                if timing["computed"]:  # a resumed job keeps the timing of its real run
                    (result.predictions_path.parent / "run" / "timing.json").write_text(
                        json.dumps(timing) + "\n"
                    )
                print(f"k={k} {job.name}: {timing}", flush=True)
        count.close()


def subset_ground_truth(pred_root: Path, gt_dir: Path) -> Path:
    """GT files holding exactly the uids that were predicted (all of them without --limit)."""
    out = pred_root / "ground-truth"
    out.mkdir(parents=True, exist_ok=True)
    for gt in sorted(gt_dir.glob("*.json")):
        pred = pred_root / f"{gt.stem}-fold0" / "nlp-predictions-dataset.json"
        if not pred.exists():
            continue
        uids = {str(r["uid"]) for r in json.loads(pred.read_text())}
        rows = [r for r in json.loads(gt.read_text()) if str(r["uid"]) in uids]
        (out / gt.name).write_text(json.dumps(rows))
    return out


def variant_tree(pred_root: Path, name: str) -> Path | None:
    """Predictions with the ablation `name` swapped in where a job kept one."""
    out = pred_root / "variants" / name
    found = False
    for job_dir in sorted(pred_root.glob("*-fold0")):
        sidecar = job_dir / "run" / "dragon.json"
        main = job_dir / "nlp-predictions-dataset.json"
        if not (sidecar.exists() and main.exists()):
            continue
        variants = json.loads(sidecar.read_text()).get("variants", {})
        target = out / job_dir.name / "nlp-predictions-dataset.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        if name in variants:
            found = True
            target.write_text(json.dumps(variants[name]))
        else:
            target.write_text(main.read_text())
    return out if found else None


def no_model_tree(pred_root: Path, input_dir: Path) -> Path:
    """What the adapters predict without any answer (training prior, majority class,
    median, no entities), for the same cases: the floor the model has to beat."""
    from clinextract.dragon.adapters import make_adapter
    from clinextract.dragon.instructions import instruction_for
    from clinextract.dragon.jobs import load_job

    out = pred_root / "variants" / "no_model"
    for pred in sorted(pred_root.glob("*-fold0/nlp-predictions-dataset.json")):
        job = load_job(input_dir / pred.parent.name)
        adapter = make_adapter(job, instruction_for(job.task_name, job.label_name))
        uids = {p["uid"] for p in json.loads(pred.read_text())}
        rows = [
            {"uid": c["uid"], job.prediction_key: adapter.predict(None, c)}
            for c in job.test
            if c["uid"] in uids
        ]
        target = out / pred.parent.name / "nlp-predictions-dataset.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(rows))
    return out


def alignment_ceiling(input_dir: Path) -> list[str]:
    """NER without the model's errors: each validation case's gold entity texts (what a
    perfect model would answer) are aligned back onto its parts and scored against the
    gold tags, once with our alignment and once with first-match tagging."""
    import pandas as pd

    from clinextract.dragon.adapters import make_adapter
    from clinextract.dragon.instructions import instruction_for
    from clinextract.dragon.jobs import find_jobs
    from clinextract.dragon.metrics import multi_label_f1, seqeval_f1

    rows = []
    for job in find_jobs(input_dir):
        if not job.label_name.endswith("named_entity_recognition_target"):
            continue
        adapter = make_adapter(job, instruction_for(job.task_name, job.label_name))
        gold = [c[job.label_name] for c in job.validation]
        scores = []
        for variant in ("all", "first_match"):
            preds = []
            for case in job.validation:
                record = {"status": "success", "fields": adapter.answer(case)}
                preds.append(
                    adapter.predict(record, case)
                    if variant == "all"
                    else adapter.variants(record, case)[variant]
                )
            if adapter.multi:
                scores.append(multi_label_f1(pd.Series(gold), pd.Series(preds)))
            else:
                scores.append(seqeval_f1(gold, preds, "macro"))
        rows.append(f"| {job.task_name} | {len(gold)} | {scores[0]:.3f} | {scores[1]:.3f} |")
    return rows


def score(pred_root: Path, gt: Path) -> dict[str, Any]:
    from clinextract.dragon.evaluate import evaluate

    return evaluate(pred_root, gt)


def collect(k: int) -> dict[str, Any] | None:
    root = OUT / f"k{k}"
    if not any(root.glob("*-fold0/nlp-predictions-dataset.json")):
        return None
    gt = subset_ground_truth(root, SHARED / "ground-truth")
    result: dict[str, Any] = {"main": score(root, gt), "jobs": {}}
    for name in ("hard", "model_only", "first_match"):
        tree = variant_tree(root, name)
        result[name] = score(tree, gt) if tree else None
    result["no_model"] = score(no_model_tree(root, SHARED / "input"), gt)
    for job_dir in sorted(root.glob("*-fold0")):
        side = job_dir / "run" / "dragon.json"
        timing = job_dir / "run" / "timing.json"
        info = json.loads(side.read_text()) if side.exists() else {}
        info.pop("variants", None)
        if timing.exists():
            info["timing"] = json.loads(timing.read_text())
        result["jobs"][job_dir.name.rsplit("-fold", 1)[0]] = info
    return result


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def write_report(ks: list[int], args: argparse.Namespace) -> None:
    from clinextract.dragon.evaluate import task_kind
    from clinextract.engines.embedded import bundled_model

    results = {k: collect(k) for k in ks}
    results = {k: r for k, r in results.items() if r}
    if not results:
        print("no predictions to score yet")
        return
    tasks = sorted({t for r in results.values() for t in r["main"]["case"]})
    lines = [
        "# DRAGON synthetic jobs (Task101–Task109, fold 0) with the bundled model",
        "",
        f"Written by `bench/dragon_synthetic.py` on {dt.date.today().isoformat()}; model "
        f"`{bundled_model()[0].name}` (Gemma 3 270M base, Q4_K_M) through the embedded "
        f"engine, greedy, `--parallel {args.parallel}`, `--threads {args.threads}`, "
        f"`--ctx-per-slot {args.ctx_per_slot}` (the last invocation's settings); "
        f"{platform.machine()} with {os.cpu_count()} cores, at times shared with other "
        "work (docs/s are what this machine gave, not a clean throughput figure).",
        "Scores: the official dragon_eval 0.2.6 metrics "
        f"({next(iter(results.values()))['main'].get('scorer')} scorer). Synthetic tasks "
        "get the generic instruction (only the 28 named DRAGON tasks have our own).",
        "",
        (
            f"Cases: the first {args.limit} test cases of each job (Task108 has 30), the same "
            "cases in every setting; the ground truth is cut to exactly those uids. With 40 "
            "cases an AUC or a kappa moves by roughly ±0.08 from one sample of cases to "
            "another, so a difference under ~0.1 on one task is within noise."
            if args.limit
            else "Cases: every test case of each job."
        ),
        "",
    ]
    cases = {t: {k: r["jobs"].get(t, {}).get("cases") for k, r in results.items()} for t in tasks}
    lines += ["## Score per task", ""]
    header = "| task | metric | test cases | " + " | ".join(f"k={k}" for k in results) + " |"
    first = next(iter(results.values()))
    lines += [header[:-1] + "| no model |", "|" + "---|" * (4 + len(results))]
    for t in tasks:
        n = "/".join(sorted({str(c) for c in cases[t].values() if c}))
        row = [fmt(r["main"]["case"].get(t, {}).get(f"{t}-fold0")) for r in results.values()]
        row.append(fmt(first["no_model"]["case"].get(t, {}).get(f"{t}-fold0")))
        lines.append(f"| {t} | {task_kind(t)} | {n} | " + " | ".join(row) + " |")
    overall = [
        fmt(r["main"]["aggregates"]["overall"]["mean"])
        + ("" if len(r["main"]["case"]) == len(tasks) else f" ({len(r['main']['case'])} tasks)")
        for r in results.values()
    ]
    overall.append(fmt(first["no_model"]["aggregates"]["overall"]["mean"]))
    lines += ["| **overall** | mean of tasks | | " + " | ".join(overall) + " |"]
    rates = []
    for r in results.values():
        timings = [j.get("timing", {}) for j in r["jobs"].values()]
        docs = sum(t.get("computed", 0) for t in timings)
        secs = sum(t.get("seconds", 0) for t in timings)
        rates.append(f"{docs / secs:.2f}" if secs else "–")
    lines += ["| docs/s | all computed cases | | " + " | ".join(rates) + " | |", ""]
    lines += [
        "*no model*: what the adapters predict without an answer (training prior for "
        "binary, majority class, training median, no entities), on the same cases — the "
        "floor a model has to beat. Ties make its AUC 0.5 and its kappa 0.",
        "",
    ]
    lines += [f"For scale: fine-tuned RoBERTa baseline on these jobs: {ROBERTA}.", ""]

    lines += ["## What the design choices are worth", "", header.replace("test cases", "variant")]
    lines += ["|" + "---|" * (3 + len(results))]
    # (with, without, label, tasks): the score with a choice vs the score without it
    for with_, without, label, what in (
        ("model_only", "hard", "probabilities vs hard 0/1", ("Task101", "Task104")),
        ("main", "model_only", "label rates + model vs model alone", ("Task104",)),
        ("main", "first_match", "alignment vs first-match", ("Task108", "Task109")),
    ):

        def pick(r: dict, name: str, key: str) -> dict:
            tree = r["main"] if name == "main" else (r.get(name) or {})
            return tree.get("aggregates" if key == "overall" else "case", {}).get(key, {})

        for t in [t for t in tasks if t.startswith(what)] + ["overall"]:
            cells = []
            for r in results.values():
                field = "mean" if t == "overall" else f"{t}-fold0"
                a, b = pick(r, with_, t).get(field), pick(r, without, t).get(field)
                if a is None and with_ == "model_only":  # single-label: no prior to remove
                    a = pick(r, "main", t).get(field)
                cells.append(
                    "–" if a is None or b is None else f"{fmt(a)} vs {fmt(b)} ({a - b:+.3f})"
                )
            kind = "mean of tasks" if t == "overall" else task_kind(t)
            lines.append(f"| {t} | {kind} | {label} | " + " | ".join(cells) + " |")
    lines += [""]

    lines += [
        "NER alignment without the model's errors (validation cases; the gold entity texts, "
        "i.e. a perfect answer, aligned back onto the parts and scored with the official "
        "metric):",
        "",
        "| task | cases | our alignment | first-match |",
        "|---|---|---|---|",
        *alignment_ceiling(args.input),
        "",
    ]
    lines += ["## Throughput and prompts", ""]
    lines += [
        "Runs resume: a case whose configuration (prompt, schema, examples, model, budget) "
        "is unchanged is reused, a case computed under an earlier configuration is computed "
        "again, so every prediction above comes from the current code. docs/s and seconds "
        "are those of the run that computed a job's last cases (for a job finished after an "
        "interruption: only those cases); failures count every case.",
        "",
    ]
    lines += ["| task | k | docs/s | seconds | failures | cut to fit | examples given/asked |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for k, r in results.items():
        for t in tasks:
            info = r["jobs"].get(t, {})
            tm = info.get("timing", {})
            ex = info.get("examples", {})
            lines.append(
                f"| {t} | {k} | {tm.get('docs_per_s', '–')} | {tm.get('seconds', '–')} | "
                f"{tm.get('failures', '–')} | {info.get('truncated_inputs', '–')} | "
                f"{ex.get('given', 0)}/{ex.get('asked', 0)} |"
            )
    lines += [""]
    REPORT.write_text("\n".join(lines) + "\n")
    (OUT / "scores.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {REPORT}")


def main() -> None:
    global OUT, REPORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SHARED / "input")
    parser.add_argument(
        "--k",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[0, 5, 10],
        help="few-shot settings, e.g. 0,5,10",
    )
    parser.add_argument("--tasks", type=lambda s: s.split(","), default=())
    parser.add_argument("--limit", type=int, default=None, help="first N test cases per job")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ctx-per-slot", type=int, default=4096)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT, help="where predictions go")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    OUT, REPORT = args.out, args.report
    if not args.report_only:
        run(args)
    write_report(args.k, args)


if __name__ == "__main__":
    sys.exit(main())
