"""Smoke test for bench/: the overhead benchmark runs and gives a well-formed result.

Speed is a benchmark figure (bench/RESULTS.md), never asserted here.
"""

from __future__ import annotations

import math

from bench import machine, overhead, report
from bench.dataset import SCHEMA, make_reports
from bench.gbnf import schema_to_gbnf


def test_overhead_benchmark_on_200_rows_is_well_formed() -> None:
    result = overhead.measure_overhead(200)
    assert result.rows == 200
    assert result.successes == 200  # every fake answer validated and was written
    assert result.engine_requests == 200  # one request per row, no retries
    assert result.seconds > 0 and math.isfinite(result.docs_per_s)
    assert result.ms_per_doc == 1000 * result.seconds / 200

    res = report.Results(machine=machine.describe(), command="test", quick=True)
    res.overhead = result
    text = report.render(res)
    assert "ms per document" in text
    assert text.rstrip().endswith("throughput ratio A/B: n/a (throughput not measured)")


def test_bench_data_is_deterministic_dutch_reports() -> None:
    first, again = make_reports(3), make_reports(3)
    assert [r.text for r in first] == [r.text for r in again]
    assert all(
        r.text.startswith("Onderzoek:") and set(r.truth) == set(SCHEMA["properties"]) for r in first
    )


def test_baseline_grammar_keeps_ollama_whitespace_and_key_order() -> None:
    grammar = schema_to_gbnf(SCHEMA)
    assert 'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}' in grammar
    root = next(line for line in grammar.splitlines() if line.startswith("root ::="))
    assert root.index("onderzoek-kv") < root.index("controle-geadviseerd-kv")


def test_review_loop_bench_runs_with_a_fake_engine(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """bench/review_loop.py end to end on 6 reports, k = 2, one seed, with the FakeEngine
    (fakes.py: one fixed answer, so before and after are the same: no gain is claimed)."""
    import sys

    from bench import review_loop
    from tests.fakes import FakeEngine, ok

    answer = (
        '{"onderzoek":"CT thorax","nodus_aanwezig":true,"grootste_nodus_mm":6,'
        '"follow_up_geadviseerd":false,"bevindingen":["emfyseem"]}'
    )
    monkeypatch.setattr(review_loop, "OUT", tmp_path / "out")
    monkeypatch.setattr(
        review_loop, "create_engine", lambda s: FakeEngine(lambda r: ok(answer), capacity=2)
    )
    out = tmp_path / "REVIEW_LOOP.md"
    argv = ["review_loop", "--docs", "6", "--ks", "2", "--seeds", "1", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    review_loop.main()
    text = out.read_text(encoding="utf-8")
    assert "| 2 | lowest confidence | onderzoek | 4 |" in text
    assert "| 2 | random (seed 0) | bevindingen | 4 |" in text
    assert "| 2 | +0.000 | +0.000 | +0.000 |" in text


def test_calibration_judges_booleans_numbers_text_and_list_items() -> None:
    from bench.calibration import judged_values

    truth = {"nodus": True, "mm": 7, "soort": "CT thorax", "lijst": ["cyste"], "leeg": None}
    item = {"nodus": True, "mm": 7.4, "soort": "ct thorax ", "lijst": ["cyste", "x"]}
    item["leeg"] = None
    right = {v["path"]: v["right"] for v in judged_values(item, truth)}
    assert right == {
        "nodus": True,
        "mm": True,
        "soort": True,
        "lijst[0]": True,
        "lijst[1]": False,
        "leeg": True,
    }
    wrong = {"nodus": False, "mm": 1, "soort": "MRI", "lijst": [], "leeg": 3}
    judged = {v["path"]: v["right"] for v in judged_values(wrong, truth)}
    assert judged == dict.fromkeys(["nodus", "mm", "soort", "lijst", "leeg"], False)
    assert not any(v["right"] for v in judged_values({**item, "nodus": 1}, truth)[:1])


def test_answer_agreement_counts_fields_within_and_across_variants() -> None:
    from bench.dataset import FIELDS
    from bench.throughput import Sample, ThroughputResult

    def sample(variant: str, rep: int, regio: str) -> Sample:
        values = {name: None for name in FIELDS} | {"regio": regio}
        return Sample(
            variant,
            rep,
            1.0,
            2,
            0,
            0,
            2,
            0,
            0.0,
            0.0,
            predictions={"r1": dict(values), "r2": dict(values, onderzoek="CT")},
        )

    samples = [
        sample("A", 1, "thorax"),
        sample("A0", 1, "thorax"),
        sample("A", 2, "abdomen"),
        sample("A0", 2, "thorax"),
    ]
    result = ThroughputResult(2, 2, samples, {}, {}, {}, {"parallel": 8})
    fields = 2 * len(FIELDS)
    assert result.agreement() == (2 * fields - 2, 2 * fields, [])  # rep 2 differs twice
    assert result.self_agreement("A") == (fields - 2, fields)
    assert result.self_agreement("A0") == (fields, fields)
    text = "\n".join(report._self_agreement(result))
    assert f"A {fields - 2}/{fields}" in text and "`--parallel 8`" in text
