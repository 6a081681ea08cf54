"""`make bench-examples`: accuracy and docs/s for 0, 1, 2, 3 and 5 few-shot examples per
report, on the bundled example and the bench set; writes bench/EXAMPLES.md.

    .venv/bin/python bench/examples_sweep.py               # both sets, k = 0 1 2 3 5
    .venv/bin/python bench/examples_sweep.py --docs 12     # the first 12 reports of each

This is the measurement behind `num_examples` "auto" (examples.AUTO_EXAMPLES). One model
is loaded once and shared by every variant (the Python API's `Extractor`). The variants
run interleaved, a chunk of reports at a time in a rotating order, so a busy machine
slows them alike: docs/s are comparable with each other within this run only.

- bundled example: examples/ (36 Dutch radiology reports, 8 examples in
  radiology_examples.json), scored like `make demo` (examples/score_demo.py).
- bench set: bench/data (the throughput bench's reports, exact truth), with 8 examples
  written by the same generator with another seed (no report is also an example).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.dataset import DATA_DIR, make_reports  # noqa: E402

EXAMPLES = ROOT / "examples"
RESULTS = ROOT / "bench" / "EXAMPLES.md"
KS = (0, 1, 2, 3, 5)
EXAMPLE_SEED = 7  # the bench set's examples: same generator, another seed


@dataclass
class Variant:
    k: int
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → record
    seconds: float = 0.0
    rows: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    other_cores: list[float] = field(default_factory=list)

    @property
    def docs_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Dataset:
    name: str
    description: str
    schema: Any  # OutputSchema
    input_field: str
    id_field: str
    rows: list[dict[str, Any]]
    pool: Any  # ExamplePool
    truth: dict[str, dict[str, Any]]  # id → field → gold value
    matches: Callable[[str, Any, Any], bool] = lambda field, want, got: want == got

    def score(self, records: dict[str, dict[str, Any]]) -> dict[str, float]:
        """Per field, the share of reports right. A failed row is wrong in every field and
        a field the model gave invalidly (nulled, in field_errors) is wrong, even where
        the gold value is null: nothing the model did not validly say counts."""
        fields = self.schema.field_names
        shares = {}
        for f in fields:
            right = 0
            for row in self.rows:
                rec = records.get(row[self.id_field])
                if rec is None or rec["status"] == "failure" or f in rec.get("field_errors", {}):
                    continue
                right += self.matches(f, self.truth[row[self.id_field]][f], rec["fields"].get(f))
            shares[f] = right / len(self.rows)
        return shares


def bundled(docs: int | None) -> Dataset:
    sys.path.insert(0, str(EXAMPLES))
    from score_demo import gold, matches

    from clinextract.examples import ExamplePool
    from clinextract.settings import Settings
    from clinextract.task import load_task

    settings = Settings(data_dir=EXAMPLES / "data", example_dir=EXAMPLES / "data")
    task = load_task(EXAMPLES / "tasks" / "Task001_dutch_radiology.json", settings)
    with task.data_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:docs]
    return Dataset(
        "bundled example (examples/, Task001_dutch_radiology)",
        task.description,
        task.schema,
        task.input_field,
        "uid",
        rows,
        ExamplePool.load(task.example_path, task.schema),
        gold(),
        matches,
    )


def bench_set(docs: int | None) -> Dataset:
    from bench.dataset import DESCRIPTION, SCHEMA
    from clinextract.examples import ExamplePool
    from clinextract.schema import OutputSchema

    schema = OutputSchema.from_json_schema(SCHEMA, "bench")
    with (DATA_DIR / "reports.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:docs]
    truth = json.loads((DATA_DIR / "truth.json").read_text(encoding="utf-8"))
    examples = [(r.text, r.truth) for r in make_reports(8, seed=EXAMPLE_SEED)]
    assert not {r["text"] for r in rows} & {t for t, _ in examples}, "an example is a report"
    pool = ExamplePool.from_items(examples, schema)
    return Dataset("bench set (bench/data)", DESCRIPTION, schema, "text", "id", rows, pool, truth)


SETS = {"bundled": bundled, "bench": bench_set}


def sweep(data: Dataset, engine: Any, ks: tuple[int, ...], chunks: int) -> list[Variant]:
    from clinextract import Extractor

    variants = {k: Variant(k) for k in ks}
    size = -(-len(data.rows) // chunks)
    for n, start in enumerate(range(0, len(data.rows), size)):
        chunk = data.rows[start : start + size]
        order = ks[n % len(ks) :] + ks[: n % len(ks)]  # rotate: no variant always first
        for k in order:
            v = variants[k]
            with (
                Extractor(
                    data.schema,
                    data.description,
                    examples=data.pool,
                    input_field=data.input_field,
                    id_field=data.id_field,
                    engine=engine,
                    num_examples=k,
                    progress=False,
                ) as extractor,
                machine.OtherLoad() as others,
            ):
                result = extractor.extract(chunk)
            s = result.summary
            v.seconds += s["seconds"]
            v.rows += s["rows"]
            v.failures += s["failures"]
            v.prompt_tokens += s["prompt_tokens"]
            v.other_cores.append(others.cores)
            v.records.update((r["id"], r) for r in result.records)
            print(
                f"  {data.name[:14]} chunk {n} k={k}: {s['rows']} docs in {s['seconds']:.1f} s"
                f" (other processes: {others.cores:.1f} cores)",
                flush=True,
            )
    return [variants[k] for k in ks]


def report(results: list[tuple[Dataset, list[Variant]]], settings: Any, started: str) -> str:
    lines = [
        "# Few-shot examples per report: accuracy and docs/s",
        "",
        f"`make bench-examples` ({started}, {machine.describe().get('cpu', '?')}, "
        f"{settings.threads} threads, --parallel {settings.parallel}; the bundled Gemma 3 "
        "270M, greedy). Examples are picked per report by BM25 from a pool of 8; accuracy "
        "is the share of field values equal to the gold value (failed rows count as wrong). "
        "The variants ran interleaved on one loaded model, so their docs/s compare with "
        "each other; on a quiet machine all are faster.",
        "",
    ]
    for data, variants in results:
        fields = list(data.schema.field_names)
        lines += [
            f"## {data.name}: {len(data.rows)} reports",
            "",
            "| examples | accuracy | " + " | ".join(fields) + " | docs/s | prompt tokens/doc "
            "| failures | other processes (cores) |",
            "|---|---|" + "---|" * len(fields) + "---|---|---|---|",
        ]
        for v in variants:
            shares = data.score(v.records)
            mean = sum(shares.values()) / len(shares)
            busy = sum(v.other_cores) / len(v.other_cores) if v.other_cores else 0.0
            lines.append(
                f"| {v.k} | **{mean:.1%}** | "
                + " | ".join(f"{shares[f]:.0%}" for f in fields)
                + f" | {v.docs_per_s:.2f} | {v.prompt_tokens / max(1, v.rows):.0f} "
                f"| {v.failures} | {busy:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, help="only the first N reports of each set")
    parser.add_argument("--k", type=int, nargs="+", default=list(KS), help="examples per report")
    parser.add_argument("--chunks", type=int, default=3, help="interleaving chunks per set")
    parser.add_argument(
        "--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS), help="which sets"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from clinextract.engines import create_engine
    from clinextract.settings import Settings

    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    settings = Settings()
    datasets = [SETS[name](args.docs) for name in args.sets]
    with create_engine(settings) as engine:
        results = [(d, sweep(d, engine, tuple(args.k), args.chunks)) for d in datasets]
    text = report(results, settings, started)
    args.results.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
