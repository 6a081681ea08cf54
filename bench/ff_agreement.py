"""Do answers change with fast-forward, and why? The bench set and the bundled example.

    .venv/bin/python bench/ff_agreement.py [--docs 64] [--parallel 8] [--repeat]

Each task runs through the whole pipeline at temperature 0 with the defaults, with
fast-forward (A) and without (A0), keeping each token's two best alternatives (which does
not change what is chosen). Then:

* **agreement**: field values identical between A and A0, and each one's agreement with
  the truth (the bench generator's truth; the example's gold labels);
* **near-ties**: for each differing field, the margin between the two best tokens where
  A0 decoded the value's first token — a small margin is a near-tie that llama.cpp's
  batch-dependent arithmetic can tip either way;
* **seams**: for every forced run of every A0 answer, whether the tokens A0 itself chose
  for that text are the ones fast-forward appends (its tokenization on its own, less
  what it holds back at a seam for the model to write);
* with `--repeat`, A0 once more with `--parallel 4`: the agreement of the engine with
  itself when only the batch shapes change, for scale.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dataset import make_reports, write_task  # noqa: E402
from clinextract.data import DataSource  # noqa: E402
from clinextract.engines.embedded import EmbeddedEngine  # noqa: E402
from clinextract.engines.forced_json import Matcher  # noqa: E402
from clinextract.engines.json_shapes import compile_shape  # noqa: E402
from clinextract.pipeline import run_task  # noqa: E402
from clinextract.settings import Settings  # noqa: E402
from clinextract.task import Task, load_task  # noqa: E402

EXAMPLE_TASK = ROOT / "examples" / "tasks" / "Task001_dutch_radiology.json"
EXAMPLE_GOLD = ROOT / "examples" / "data" / "radiology_gold.csv"
NEAR_TIE = 0.25  # logprob margin below which two tokens are a near-tie


def run(task: Task, settings: Settings, source: DataSource | None = None) -> dict[str, dict]:
    """Records by row id, with the engine's fast-forward counters in `_stats`."""
    with EmbeddedEngine(settings) as engine:
        summary = run_task(task, settings, source=source, engine=engine)[-1]
        stats = engine.fast_forward_stats()
    lines = (summary.run_dir / "records.jsonl").read_text(encoding="utf-8").splitlines()
    records = {str(r["id"]): r for r in map(json.loads, lines)}
    return {**records, "_stats": stats}


def margin_at(record: dict, text_offset: int) -> float | None:
    """Top-1 minus top-2 logprob of the decoded token covering `text_offset`."""
    pos = 0
    for token, _logprob, top in record.get("logprobs") or []:
        if pos <= text_offset < pos + len(token):
            best = sorted(top.values(), reverse=True)
            return best[0] - best[1] if len(best) > 1 else None
        pos += len(token)
    return None


def value_offset(raw: str, field: str) -> int:
    key = json.dumps(field, ensure_ascii=False) + ":"
    at = raw.find(key)
    return -1 if at < 0 else at + len(key)


def seams(records: dict[str, dict], schema_json: str, split) -> tuple[int, int, list[str]]:
    """Walk each A0 answer the way fast-forward would: after each token A0 chose, the forced
    text is appended as its own tokens, except the part held for the model at a seam
    (`split(forced, next_chars)` gives the appended pieces and the held text). Count the
    forced runs where A0's tokens for the appended part were different: another split of
    the same text, or a token that ran on past it. Returns (differing, runs, examples)."""
    shape = compile_shape(schema_json)
    differ = total = 0
    examples: list[str] = []
    for record in records.values():
        if not isinstance(record, dict) or not record.get("logprobs"):
            continue
        tokens = [t[0] for t in record["logprobs"]]
        matcher, i = Matcher(shape), 0
        while not matcher.done and i < len(tokens):
            forced = matcher.take_forced()
            if not forced:
                matcher.feed(tokens[i])  # a token A0 chose: fast-forward decodes it too
                i += 1
                continue
            if matcher.done:
                break
            appended, held = split(forced, matcher.next_chars())
            kept = forced[: len(forced) - len(held)]
            total += 1
            own, covered = [], ""
            while len(covered) < len(kept) and i < len(tokens):
                own.append(tokens[i])
                covered += tokens[i]
                i += 1
            if own != appended:
                differ += 1
                if len(examples) < 8:
                    examples.append(f"appended {kept!r} (held {held!r}): A0 chose {own!r}")
            if covered.startswith(forced):
                if len(covered) > len(forced):
                    matcher.feed(covered[len(forced) :])  # ran on into the next choice
            elif forced.startswith(covered):  # A0's next tokens write the held text
                rest = forced[len(covered) :]
                while rest and i < len(tokens):
                    token = tokens[i]
                    i += 1
                    if token.startswith(rest):
                        matcher.feed(token[len(rest) :])
                        rest = ""
                    elif rest.startswith(token):
                        rest = rest[len(token) :]
                    else:
                        break
    return differ, total, examples


def compare(name: str, a: dict, a0: dict, truth: dict[str, dict[str, Any]], score) -> dict:
    same = total = 0
    rows: list[dict[str, Any]] = []
    right = {"A": 0, "A0": 0}
    for rid in sorted(k for k in a0 if k != "_stats"):
        fa, f0 = a[rid]["fields"], a0[rid]["fields"]
        for field in fa:
            total += 1
            same += fa[field] == f0[field]
            right["A"] += score(field, fa[field], truth[rid][field])
            right["A0"] += score(field, f0[field], truth[rid][field])
            if fa[field] != f0[field]:
                offset = value_offset(a0[rid]["raw_output"] or "", field)
                rows.append(
                    {
                        "row": rid,
                        "field": field,
                        "A": fa[field],
                        "A0": f0[field],
                        "A0 margin": margin_at(a0[rid], offset),
                        "A margin": margin_at(
                            a[rid], value_offset(a[rid]["raw_output"] or "", field)
                        ),
                    }
                )
    near = sum(
        1
        for r in rows
        if min(m for m in (r["A0 margin"], r["A margin"], 99.0) if m is not None) < NEAR_TIE
    )
    print(f"\n== {name}: fields identical A vs A0: {same}/{total} = {same / total:.1%}")
    ids = [k for k in a0 if k != "_stats"]
    valid = {k: sum(r[i]["status"] == "success" for i in ids) for k, r in (("A", a), ("A0", a0))}
    print(f"   records valid (success): A {valid['A']}/{len(ids)}, A0 {valid['A0']}/{len(ids)}")
    print(f"   agreement with the truth: A {right['A'] / total:.1%}, A0 {right['A0'] / total:.1%}")
    print(f"   differing fields at a near-tie (margin < {NEAR_TIE}): {near}/{len(rows)}")
    for r in rows:
        print(f"   {r}")
    print(f"   fast-forward: {a['_stats']}")
    return {"same": same, "total": total, "right": right, "near": near, "diffs": rows}


def exact(field: str, got: Any, want: Any) -> bool:
    return got == want


def example_truth() -> tuple[dict[str, dict[str, Any]], Any]:
    sys.path.insert(0, str(ROOT / "examples"))
    from score_demo import gold_value  # the demo's own reading of the gold labels

    with EXAMPLE_GOLD.open(encoding="utf-8") as fh:
        gold = {
            r["uid"]: {f: gold_value(f, r[f]) for f in r if f != "uid"} for r in csv.DictReader(fh)
        }

    def score(field: str, got: Any, want: Any) -> bool:
        if field == "bevindingen":  # any overlap of terms, as score_demo.py counts it
            if not want:
                return got == []
            return bool({w.lower() for w in want} & {x.lower() for x in got or []})
        if field == "grootste_nodus_mm" and want is not None and got is not None:
            return abs(want - got) < 0.51
        return got == want

    return gold, score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--repeat", action="store_true", help="A0 again with --parallel 4")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="clinextract-ffagree-") as tmp:
        folder = Path(tmp)
        reports = make_reports(args.docs)
        task_path = write_task(folder / "bench", reports)
        base = Settings(
            task_dir=folder / "bench",
            data_dir=folder / "bench",
            output_dir=folder / "out",
            overwrite=True,
            parallel=args.parallel,
        )
        bench = dataclasses.replace(load_task(task_path, base), top_logprobs=2)
        truth = {r.id: r.truth for r in reports}
        runs = {}
        for label, ff in (("A", True), ("A0", False)):
            settings = base.model_copy(update={"fast_forward": ff, "run_name": f"bench-{label}"})
            runs[label] = run(bench, settings)
        compare("bench set", runs["A"], runs["A0"], truth, exact)
        one = base.model_copy(update={"parallel": 1, "fast_forward": True})
        with EmbeddedEngine(one) as engine:

            def pieces(text: str) -> list[str]:
                reply = httpx.post(
                    f"{engine.address}/tokenize", json={"content": text, "with_pieces": True}
                )
                return [t["piece"] for t in reply.raise_for_status().json()["tokens"]]

            def split(forced: str, after) -> tuple[list[str], str]:
                kept, _ids, held = engine._fast_forward.seam(forced, after)
                return (pieces(kept) if kept else []), held

            differ, total, examples = seams(
                runs["A0"], json.dumps(bench.schema.grammar_schema), split
            )
        print(f"   seams: A0's own tokens differ from the appended ones in {differ}/{total}")
        for line in examples:
            print(f"     {line}")
        if args.repeat:
            settings = base.model_copy(
                update={"fast_forward": False, "parallel": 4, "run_name": "bench-A0p4"}
            )
            again = run(bench, settings)
            compare("bench set, A0 vs A0 at --parallel 4", again, runs["A0"], truth, exact)

        example = Settings(
            task_dir=EXAMPLE_TASK.parent,
            data_dir=ROOT / "examples" / "data",
            example_dir=ROOT / "examples" / "data",
            output_dir=folder / "out",
            overwrite=True,
            num_examples=3,  # as `make demo` runs it
            parallel=args.parallel,
        )
        task = dataclasses.replace(load_task(EXAMPLE_TASK, example), top_logprobs=2)
        gold, score = example_truth()
        for label, ff in (("A", True), ("A0", False)):
            settings = example.model_copy(update={"fast_forward": ff, "run_name": f"ex-{label}"})
            runs[label] = run(task, settings)
        compare("bundled example (3 examples)", runs["A"], runs["A0"], gold, score)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
