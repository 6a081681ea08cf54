"""The real bundled model on a few cases of two synthetic jobs (integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinextract.dragon.evaluate import evaluate
from clinextract.dragon.runner import RUN_DIR, run_job
from clinextract.engines import create_engine
from clinextract.settings import Settings
from tests.paths import SYNTHETIC

pytestmark = pytest.mark.model


def subset_gt(pred_root: Path, dest: Path) -> Path:
    dest.mkdir()
    for pred in pred_root.glob("*-fold0/nlp-predictions-dataset.json"):
        task = pred.parent.name.rsplit("-fold", 1)[0]
        uids = {p["uid"] for p in json.loads(pred.read_text())}
        rows = json.loads((SYNTHETIC / "ground-truth" / f"{task}.json").read_text())
        (dest / f"{task}.json").write_text(json.dumps([r for r in rows if r["uid"] in uids]))
    return dest


def test_binary_probabilities_and_ner_tags_from_the_real_model(tmp_path, synthetic_job):
    settings = Settings(parallel=2, ctx_per_slot=2048, num_examples=1, output_dir=tmp_path)
    out = tmp_path / "pred"
    with create_engine(settings) as engine:
        binary = run_job(
            synthetic_job("Task101_Example_sl_bin_clf"),
            settings,
            engine,
            out,
            limit=3,
        )
        ner = run_job(
            synthetic_job("Task109_Example_ml_ner"),
            settings,
            engine,
            out,
            limit=1,
        )
    assert binary.summary.failures == 0 and binary.examples_given == 3
    probs = [
        p["single_label_binary_classification"]
        for p in json.loads(binary.predictions_path.read_text())
    ]
    assert all(0.0 < p < 1.0 for p in probs)  # from the answer token's logprobs, not 0/1
    records = (binary.predictions_path.parent / RUN_DIR / "records.jsonl").read_text()
    assert all("logprobs" in json.loads(line) for line in records.splitlines())
    tags = json.loads(ner.predictions_path.read_text())
    job = synthetic_job("Task109_Example_ml_ner")
    for pred, case in zip(tags, job.test, strict=False):
        assert len(pred["multi_label_named_entity_recognition"]) == len(case["text_parts"])
    metrics = evaluate(out, subset_gt(out, tmp_path / "gt"), scorer="official")
    assert set(metrics["case"]) == {"Task101_Example_sl_bin_clf", "Task109_Example_ml_ner"}
