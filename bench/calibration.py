"""`make bench-calibration`: is the confidence calibrated, is the evidence right, what does
it cost? Writes bench/CALIBRATION.md.

    .venv/bin/python bench/calibration.py            # the full measurement
    .venv/bin/python bench/calibration.py --quick    # fewer reports, no sampling
    .venv/bin/python bench/calibration.py --rescore  # the saved runs, scored again

Datasets: the bundled example (36 reports, gold labels, gold evidence spans in
examples/data/radiology_evidence_gold.json) with 0 and 3 examples, and the bench set
(bench/dataset.py, 48 reports with their truth) with 0 and 3 examples (examples written
by the same generator with another seed). One engine, loaded once; variants alternate.

Per field and overall: accuracy, AUROC of the confidence for right against wrong values,
expected calibration error (10 bins), and at the review threshold the accuracy of the
values at or above it beside their share. Confidence from token log-probabilities and
from agreement over sampled answers (`--samples`). Cost: docs/s with evidence and
confidence against `--evidence off`, alternated in the same session.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from evidence_gold import load_gold_evidence, load_gold_values  # noqa: E402

from bench.dataset import make_reports, write_task  # noqa: E402
from clinextract.engines import create_engine  # noqa: E402
from clinextract.pipeline import run_task  # noqa: E402
from clinextract.settings import Settings  # noqa: E402
from clinextract.task import load_task  # noqa: E402
from clinextract.values import leaves  # noqa: E402

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


# --- right and wrong values ---------------------------------------------------------------


def same(got: Any, want: Any) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):  # bool is an int: test it first
        return got is want
    if isinstance(got, int | float) and isinstance(want, int | float):
        return abs(got - want) < 0.51
    if isinstance(got, str) and isinstance(want, str):
        return got.strip().lower() == want.strip().lower()
    return got == want


def judged_values(item: dict[str, Any], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Every leaf value of one prediction with whether it is right: a scalar field against
    the truth; a list item is right when the truth's list holds it; an empty list is right
    when the truth's is empty."""
    out = []
    fields = {f: item.get(f) for f in truth}
    for path, value, _ in leaves({}, fields):
        field = path.split("[")[0].split(".")[0]
        want = truth[field]
        if "[" in path:
            right = any(same(value, w) for w in want or [])
            gold_path = next(
                (f"{field}[{i}]" for i, w in enumerate(want or []) if same(value, w)), None
            )
        else:
            right, gold_path = same(value, want), path
        out.append(
            {
                "path": path,
                "field": field,
                "value": value,
                "right": right,
                "gold_path": gold_path,
                "confidence": (item.get("confidence") or {}).get(path),
                "evidence": (item.get("evidence") or {}).get(path) or [],
            }
        )
    return out


# --- calibration --------------------------------------------------------------------------


def auroc(scores: list[float], labels: list[bool]) -> float | None:
    """P(a right value scores higher than a wrong one), ties half (Mann-Whitney)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def ece(scores: list[float], labels: list[bool], bins: int = 10) -> float | None:
    if not scores:
        return None
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if idx:
            conf = sum(scores[i] for i in idx) / len(idx)
            acc = sum(labels[i] for i in idx) / len(idx)
            total += len(idx) / len(scores) * abs(conf - acc)
    return total


def summarise(values: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    rated = [v for v in values if v["confidence"] is not None]
    scores = [v["confidence"] for v in rated]
    labels = [v["right"] for v in rated]
    above = [v for v in rated if v["confidence"] >= threshold]
    return {
        "values": len(values),
        "rated": len(rated),
        "accuracy": sum(v["right"] for v in values) / len(values) if values else None,
        "auroc": auroc(scores, labels),
        "ece": ece(scores, labels),
        "above_share": len(above) / len(rated) if rated else None,
        "above_accuracy": sum(v["right"] for v in above) / len(above) if above else None,
    }


# --- evidence against the gold spans ------------------------------------------------------


def evidence_scores(values: list[dict[str, Any]], uid: str, gold: dict) -> dict[str, int]:
    """Counts for evidence precision and recall on the right values of one report."""
    c = {"right": 0, "found": 0, "claims": 0, "claims_found": 0}
    c.update({"with_gold": 0, "hit": 0, "spans": 0, "spans_on_gold": 0})
    for v in values:
        if not v["right"]:
            continue
        c["right"] += 1
        spans = [(e["start"], e["end"]) for e in v["evidence"] if e["match"] != "none"]
        c["found"] += bool(spans)
        if v["value"] not in (None, False, [], ""):  # a value that claims something
            c["claims"] += 1
            c["claims_found"] += bool(spans)
        gold_spans = gold.get(uid, {}).get(v["gold_path"] or "", [])
        if not gold_spans:
            continue
        c["with_gold"] += 1
        overlaps = [any(a < ge and gs < b for gs, ge in gold_spans) for a, b in spans]
        c["hit"] += any(overlaps)
        c["spans"] += len(spans)
        c["spans_on_gold"] += sum(overlaps)
    return c


# --- the runs -----------------------------------------------------------------------------


def example_dataset() -> dict[str, Any]:
    gold = load_gold_values()
    return {
        "name": "bundled example",
        "task_dir": ROOT / "examples" / "tasks",
        "data_dir": ROOT / "examples" / "data",
        "task": 1,
        "truth": gold,
        "evidence_gold": load_gold_evidence(),
    }


def bench_dataset(folder: Path, docs: int) -> dict[str, Any]:
    reports = make_reports(docs)
    task_path = write_task(folder, reports)
    examples = make_reports(8, seed=77)
    (folder / "examples.json").write_text(
        json.dumps([{"input": e.text, "output": e.truth} for e in examples], ensure_ascii=False)
    )
    spec = json.loads(task_path.read_text())
    spec["Example_Path"] = "examples.json"
    task_path.write_text(json.dumps(spec))
    return {
        "name": "bench set",
        "task_dir": task_path.parent,
        "data_dir": task_path.parent,
        "task": task_path.name,
        "truth": {r.id: r.truth for r in reports},
        "evidence_gold": None,
    }


def run(dataset, engine, out: Path, shots: int, limit: int | None, **extra) -> dict[str, Any]:
    settings = Settings(
        task_dir=dataset["task_dir"],
        data_dir=dataset["data_dir"],
        example_dir=dataset["data_dir"],
        output_dir=out,
        num_examples=shots,
        overwrite=True,
        **extra,
    )
    task = load_task(dataset["task"], settings)
    source = None
    if limit:
        from clinextract.studio.runner import task_source

        source = task_source(task, settings, first_rows=limit)
    started = time.perf_counter()
    [summary] = run_task(task, settings, source=source, engine=engine)
    items = json.loads(summary.predictions_path.read_text())
    return {"items": items, "docs_per_s": summary.docs_per_s, "wall": time.perf_counter() - started}


def collect(dataset, result) -> tuple[list[dict[str, Any]], dict[str, int]]:
    id_key = "uid" if "uid" in result["items"][0] else "id"
    values, ev = [], {}
    for item in result["items"]:
        uid = str(item[id_key])
        judged = judged_values(item, dataset["truth"][uid])
        values += judged
        if dataset["evidence_gold"] is not None:
            for k, n in evidence_scores(judged, uid, dataset["evidence_gold"]).items():
                ev[k] = ev.get(k, 0) + n
    return values, ev


SAVED = ROOT / "bench" / "out" / "calibration"  # each run's predictions, for --rescore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None, help="default: --review-below's")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "CALIBRATION.md")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help=f"score the runs saved in {SAVED.relative_to(ROOT)} again, without the model",
    )
    args = parser.parse_args(argv)
    threshold = args.threshold if args.threshold is not None else Settings().review_below
    limit = 12 if args.quick else None
    engine = None if args.rescore else create_engine(Settings())
    try:  # a crashed run must not leave llama.cpp running
        with tempfile.TemporaryDirectory(prefix="clinextract-calibration-") as tmp:
            docs = 12 if args.quick else 48
            datasets = [example_dataset(), bench_dataset(Path(tmp) / "bench", docs)]

            def measured(dataset, name: str, shots: int, **extra) -> dict[str, Any]:
                saved = SAVED / f"{dataset['name'].replace(' ', '-')}-{shots}-{name}.json"
                if args.rescore:
                    return json.loads(saved.read_text(encoding="utf-8"))
                result = run(dataset, engine, Path(tmp) / name, shots, limit, **extra)
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
                return result

            sections, cost_rows = measure(args, datasets, measured)
    finally:
        if engine is not None:
            engine.close()
    write_report(args, threshold, sections, cost_rows)
    print(f"wrote {args.output}")
    return 0


def measure(args, datasets, measured) -> tuple[list, list]:
    """Each dataset with 0 and 3 examples: log-probabilities, --evidence off, (with
    examples) log-probabilities again, so that the cost is taken on both sides of the
    off run, and self-consistency."""
    sections, cost_rows = [], []
    for dataset in datasets:
        for shots in (0, 3):
            label = f"{dataset['name']}, {shots} examples"
            print(f"{label}: log-probabilities ...", flush=True)
            lp = measured(dataset, "lp", shots)
            print(f"{label}: --evidence off ...", flush=True)
            off = measured(dataset, "off", shots, evidence="off")
            lp2 = measured(dataset, "lp2", shots) if shots else None
            cost_rows.append((label, lp, off, lp2))
            values, ev = collect(dataset, lp)
            sampled = None
            if shots and not args.quick and args.samples:
                print(f"{label}: --samples {args.samples} ...", flush=True)
                sampled = collect(dataset, measured(dataset, "sc", shots, samples=args.samples))[0]
            sections.append((label, values, ev, sampled))
    return sections, cost_rows


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def write_report(args, threshold, sections, cost_rows) -> None:
    lines = [
        "# Calibration: confidence, evidence and their cost",
        "",
        "Written by `make bench-calibration` (bundled Gemma 3 270M, temperature 0, one engine "
        "loaded once, variants alternated in one session). A value is right when it equals the "
        "gold label (a list item: when the gold list holds it; numbers within 0.5). AUROC: the "
        "chance that a right value has a higher confidence than a wrong one. ECE: expected "
        f"calibration error over 10 bins. Review threshold: {threshold} (`--review-below`); "
        "'≥ threshold' is the accuracy of the values at or above it and their share.",
        "",
    ]
    overall_lp, overall_sc, with_examples = [], [], []
    for label, values, ev, sampled in sections:
        overall_lp += values
        overall_sc += sampled or []
        if not label.endswith(" 0 examples"):
            with_examples += values
        lines += [
            f"## {label}",
            "",
            "| field | values | accuracy | AUROC | ECE | ≥ threshold: accuracy | share |",
            "|---|---|---|---|---|---|---|",
        ]
        fields = sorted({v["field"] for v in values}, key=[v["field"] for v in values].index)
        for field in [*fields, "all"]:
            chosen = values if field == "all" else [v for v in values if v["field"] == field]
            s = summarise(chosen, threshold)
            name = "**all values**" if field == "all" else field
            lines.append(
                f"| {name} | {s['values']} | {pct(s['accuracy'])} | {num(s['auroc'])} | "
                f"{num(s['ece'])} | {pct(s['above_accuracy'])} | {pct(s['above_share'])} |"
            )
        if sampled:
            s = summarise(sampled, threshold)
            lines += [
                "",
                f"Self-consistency (`--samples {args.samples}`, agreement of sampled answers): "
                f"accuracy {pct(s['accuracy'])}, AUROC {num(s['auroc'])}, ECE {num(s['ece'])}, "
                f"≥ threshold {pct(s['above_accuracy'])} of {pct(s['above_share'])}.",
            ]
        if ev:
            lines += [
                "",
                f"Evidence on the right values: found (exact or fuzzy) for "
                f"{pct(ev['claims_found'] / ev['claims'] if ev['claims'] else None)} of the "
                f"{ev['claims']} that claim something (not null, false or empty) and for "
                f"{pct(ev['found'] / ev['right'] if ev['right'] else None)} of all {ev['right']} "
                "(a null or an unmentioned false has nothing to point at); "
                f"against the gold spans (values with gold evidence, {ev['with_gold']}): recall "
                f"{pct(ev['hit'] / ev['with_gold'] if ev['with_gold'] else None)}, precision "
                f"{pct(ev['spans_on_gold'] / ev['spans'] if ev['spans'] else None)} of "
                f"{ev['spans']} spans.",
            ]
        lines.append("")
    s = summarise(overall_lp, threshold)
    lines += [
        "## Overall",
        "",
        f"- log-probability confidence, all datasets: AUROC {num(s['auroc'])}, ECE "
        f"{num(s['ece'])}; accuracy over all values {pct(s['accuracy'])}, at or above "
        f"{threshold}: {pct(s['above_accuracy'])} ({pct(s['above_share'])} of the values).",
    ]
    w = summarise(with_examples, threshold)
    lines.append(
        f"- log-probability confidence with 3 examples (what a task with an Example_Path "
        f"gets by default), both datasets: AUROC {num(w['auroc'])}, ECE {num(w['ece'])}; "
        f"accuracy over all values {pct(w['accuracy'])}, at or above {threshold}: "
        f"{pct(w['above_accuracy'])} ({pct(w['above_share'])} of the values)."
    )
    if overall_sc:
        t = summarise(overall_sc, threshold)
        lines.append(
            f"- self-consistency confidence: AUROC {num(t['auroc'])}, ECE {num(t['ece'])}; at "
            f"or above {threshold}: {pct(t['above_accuracy'])} ({pct(t['above_share'])})."
        )
    lines += [
        "",
        "Thresholds (log-probability confidence, all datasets):",
        "",
        "| threshold | accuracy at or above | share of values |",
        "|---|---|---|",
    ]
    for t in THRESHOLDS:
        u = summarise(overall_lp, t)
        lines.append(f"| {t} | {pct(u['above_accuracy'])} | {pct(u['above_share'])} |")
    lines += [
        "",
        "## Cost",
        "",
        "| run | docs/s with evidence + confidence | docs/s `--evidence off` | cost |",
        "|---|---|---|---|",
    ]
    for label, lp, off, lp2 in cost_rows:
        on = lp["docs_per_s"] if lp2 is None else (lp["docs_per_s"] + lp2["docs_per_s"]) / 2
        cost = 1 - on / off["docs_per_s"] if off["docs_per_s"] else None
        lines.append(f"| {label} | {on:.2f} | {off['docs_per_s']:.2f} | {pct(cost)} |")
    lines.append("")
    args.output.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
