"""Evidence, confidence, needs_review and quality warnings through the pipeline, with a
fake engine (units; the real model is in tests/test_integration.py)."""

from __future__ import annotations

import json
import math

from clinextract.data import RecordsSource
from clinextract.engines.base import Completion, TokenLogprob
from clinextract.pipeline import run_task
from clinextract.schema import OutputSchema
from clinextract.settings import Settings
from clinextract.task import Task
from tests.fakes import FakeEngine, report_of

SCHEMA = OutputSchema.from_json_schema(
    {
        "type": "object",
        "properties": {
            "soort": {"enum": ["CT", "MRI"], "description": "soort onderzoek"},
            "mm": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "in mm"},
        },
        "required": ["soort", "mm"],
    }
)
TASK = Task("Task010_grounded", "Lees het verslag.", "text", SCHEMA)
TEXTS = [f"MRI hersenen: laesie van {n} mm." for n in range(3, 15)]


def source():
    return RecordsSource([{"uid": f"{i:02d}", "text": t} for i, t in enumerate(TEXTS)], "text")


def answer_with_logprobs(request):
    """MRI and the report's number; the model was 90 % sure of MRI, 60 % of the number."""
    mm = report_of(request).split("van ")[1].split(" ")[0]
    tokens = [
        TokenLogprob('{"soort":"', 0.0),
        TokenLogprob("MRI", math.log(0.9), {"CT": math.log(0.1)}),
        TokenLogprob('","mm":', 0.0),
        TokenLogprob(mm, math.log(0.6), {"null": math.log(0.4)}),
        TokenLogprob("}", 0.0),
    ]
    text = "".join(t.token for t in tokens)
    return Completion(text, "stop", 10, 5, logprobs=tokens if request.top_logprobs else None)


def predictions(summary):
    return json.loads(summary.predictions_path.read_text())


def test_every_value_gets_evidence_and_a_confidence_and_the_engine_is_asked_for_logprobs(
    tmp_path,
):
    engine = FakeEngine(answer_with_logprobs)
    [summary] = run_task(TASK, Settings(output_dir=tmp_path), source=source(), engine=engine)
    assert all(r.top_logprobs > 0 for r in engine.requests)
    for item, text in zip(predictions(summary), TEXTS, strict=True):
        assert math.isclose(item["confidence"]["soort"], 0.9, abs_tol=1e-3)
        assert math.isclose(item["confidence"]["mm"], 0.6, abs_tol=1e-3)
        assert item["evidence"]["soort"][0]["text"] == "MRI"
        mm = item["evidence"]["mm"][0]
        assert text[mm["start"] : mm["end"]] == mm["text"] == f"{item['mm']} mm"
        assert item["needs_review"] is True  # 0.6 is below the default 0.8
    records = [json.loads(x) for x in (summary.run_dir / "records.jsonl").read_text().splitlines()]
    assert all("logprobs" not in r for r in records)  # used, not stored (DRAGON asks to keep)


def test_review_below_and_evidence_off(tmp_path):
    engine = FakeEngine(answer_with_logprobs)
    low = Settings(output_dir=tmp_path / "a", review_below=0.5)
    [summary] = run_task(TASK, low, source=source(), engine=engine)
    assert not any(item["needs_review"] for item in predictions(summary))
    off = Settings(output_dir=tmp_path / "b", evidence="off")
    engine = FakeEngine(answer_with_logprobs)
    [summary] = run_task(TASK, off, source=source(), engine=engine)
    assert all(r.top_logprobs == 0 for r in engine.requests)
    assert all(item["evidence"] == {} and item["confidence"] == {} for item in predictions(summary))


def test_confidence_from_samples_is_their_agreement(tmp_path):
    """--samples 4: four more answers at temperature 0.7; two of them say CT."""

    def sampled(request):
        mm = report_of(request).split("van ")[1].split(" ")[0]
        soort = "CT" if request.temperature > 0 and request.seed % 2 else "MRI"
        return Completion(json.dumps({"soort": soort, "mm": int(mm)}), "stop", 10, 5)

    engine = FakeEngine(sampled)
    settings = Settings(output_dir=tmp_path, samples=4, seed=10)
    [summary] = run_task(TASK, settings, source=source(), engine=engine)
    assert len(engine.requests) == 5 * len(TEXTS)
    samples = [r for r in engine.requests if r.temperature > 0]
    assert {r.temperature for r in samples} == {0.7} and {r.seed for r in samples} == {
        11,
        12,
        13,
        14,
    }
    for item in predictions(summary):
        assert item["soort"] == "MRI" and item["confidence"] == {"soort": 0.5, "mm": 1.0}


def test_a_field_with_one_value_everywhere_is_a_warning_in_the_manifest(tmp_path):
    engine = FakeEngine(lambda r: Completion('{"soort":"CT","mm":null}', "stop", 10, 5))
    [summary] = run_task(TASK, Settings(output_dir=tmp_path), source=source(), engine=engine)
    manifest = json.loads((summary.run_dir / "manifest.json").read_text())
    assert any("'soort' is \"CT\" in all 12 records" in w for w in manifest["warnings"])
    assert any("'mm' is null in all 12 records" in w for w in manifest["warnings"])
    assert summary.warnings == manifest["warnings"]


def test_a_field_that_fails_in_many_rows_is_named_with_its_reason(tmp_path):
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {"leeftijd": {"type": "integer"}, "soort": {"enum": ["CT", "MRI"]}},
            "required": ["leeftijd", "soort"],
        }
    )
    task = Task("Task011_runaway", "Lees het verslag.", "text", schema)
    engine = FakeEngine(lambda r: Completion('{"leeftijd":100000,"soort":"MRI"}', "stop", 10, 5))
    [summary] = run_task(task, Settings(output_dir=tmp_path), source=source(), engine=engine)
    assert summary.partials == len(TEXTS)
    item = predictions(summary)[0]
    assert item["leeftijd"] is None and "run-away" in item["field_errors"]["leeftijd"]
    assert item["soort"] == "MRI"
    assert any(
        "'leeftijd' failed in 12 of 12 rows" in w and "run-away" in w for w in summary.warnings
    )
