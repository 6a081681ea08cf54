"""`clinextract dragon run`: job folders → predictions files the official evaluator accepts.

These are units: the engine is `fakes.FakeEngine` answering random *valid* JSON for the
schema it is sent (and fake log-probabilities for booleans), so the bookkeeping is
tested in seconds. The real model runs in test_dragon_model.py."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from clinextract.dragon.jobs import find_jobs, load_job
from clinextract.dragon.runner import run_job
from clinextract.engines.base import Completion, Request, TokenLogprob
from tests.fakes import FakeEngine
from tests.paths import SYNTHETIC

INPUT, GT = SYNTHETIC / "input", SYNTHETIC / "ground-truth"


def _value(node: dict, rng: random.Random, words: list[str]):
    if "anyOf" in node:
        return _value(rng.choice(node["anyOf"]), rng, words)
    if "enum" in node:
        return rng.choice(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return {k: _value(v, rng, words) for k, v in node["properties"].items()}
    if kind == "array":
        n = rng.randint(0, min(2, node.get("maxItems", 2)))
        return [_value(node["items"], rng, words) for _ in range(n)]
    if kind == "string" and "pattern" in node:  # the regression adapters' digits
        return str(rng.randint(0, 40))
    if kind == "string":
        start = rng.randrange(max(1, len(words) - 1))
        return " ".join(words[start : start + rng.randint(1, 2)])[: node.get("maxLength", 50)]
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("number", "integer"):
        return rng.randint(0, 40)
    return None


def schema_answer(request: Request, seed: int = 0) -> Completion:
    """A valid answer for the request's schema; booleans get token log-probabilities."""
    report = request.messages[-1]["content"]
    rng = random.Random(f"{seed}:{report}")
    text = json.dumps(_value(request.schema, rng, report.split()[1:]), separators=(",", ":"))
    logprobs = None
    if request.top_logprobs:
        logprobs = []
        for tok in re.findall(r"true|false|[^tf]+|[tf]", text):
            p = rng.random()
            top = {"true": math.log(p), " false": math.log(1 - p), '"': -0.1}
            logprobs.append(TokenLogprob(tok, -0.5, top if tok in ("true", "false") else {}))
    return Completion(text, "stop", prompt_tokens=50, completion_tokens=8, logprobs=logprobs)


def test_every_synthetic_job_gives_a_file_the_official_evaluator_accepts(tmp_path, settings):
    dragon_eval = pytest.importorskip("dragon_eval")
    engine = FakeEngine(schema_answer, capacity=4)
    out = tmp_path / "pred"
    results = []
    for job in find_jobs(INPUT):
        result = run_job(job, settings, engine, out)
        results.append(result)
        preds = json.loads(result.predictions_path.read_text())
        assert [p["uid"] for p in preds] == [c["uid"] for c in job.test]  # exact, in order
        assert all(set(p) == {"uid", job.prediction_key} for p in preds)
        lengths = Counter(
            len(c[job.label_name])
            for c in job.training
            if isinstance(c[job.label_name], list) and "named" not in job.label_name
        )
        for p, case in zip(preds, job.test, strict=True):
            value = p[job.prediction_key]
            if "named" in job.label_name:
                assert len(value) == len(case["text_parts"])
            elif isinstance(value, list):
                assert len(value) == lengths.most_common(1)[0][0]
            if "binary" in job.label_name:
                assert all(0.0 <= v <= 1.0 for v in (value if isinstance(value, list) else [value]))
    assert all(not r.summary.failures for r in results)  # every fake answer was valid
    binary = json.loads(
        (out / "Task101_Example_sl_bin_clf-fold0" / "nlp-predictions-dataset.json").read_text()
    )
    assert len({p["single_label_binary_classification"] for p in binary}) > 10  # a ranking
    dragon_eval.DragonEval(
        ground_truth_path=GT, predictions_path=out, folds=[0], output_file=tmp_path / "metrics.json"
    ).evaluate()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["case"]) == 9
    assert all(not math.isnan(v["mean"]) for v in metrics["aggregates"].values())


def test_ground_truth_never_reaches_a_prompt(tmp_path, settings):
    """The same job with the test labels present in its test file (the ground-truth rows)
    produces exactly the same prompts: labels in test rows are never read."""
    job_dir = INPUT / "Task102_Example_sl_mc_clf-fold0"
    leaked = tmp_path / "leaked" / job_dir.name
    shutil.copytree(job_dir, leaked)
    shutil.copy(GT / "Task102_Example_sl_mc_clf.json", leaked / "nlp-test-dataset.json")
    prompts = []
    for folder in (job_dir, leaked):
        engine = FakeEngine(schema_answer, threaded=False)
        job = load_job(folder)
        limit = 12
        roomy = {"num_examples": 3, "ctx_per_slot": 8192}
        run_job(
            job,
            settings.model_copy(update=roomy),
            engine,
            tmp_path / f"out-{len(prompts)}",
            limit=limit,
        )
        prompts.append(sorted(json.dumps(r.messages) for r in engine.requests))
        test_texts = {c["text"] for c in job.test}
        for request in engine.requests:
            shots = [m["content"] for m in request.messages[1:-1] if m["role"] == "user"]
            assert len(shots) == 3
            assert not any(s.split("\n", 1)[1] in test_texts for s in shots)  # training only
    gt_leaked = load_job(leaked).test[0]
    assert "single_label_multi_class_classification_target" in gt_leaked
    assert prompts[0] == prompts[1]


def _long_job(tmp_path: Path, side: str, ner: bool = False) -> Path:
    folder = tmp_path / f"Task990_long-fold0-{side}" / "Task990_long-fold0"
    folder.mkdir(parents=True)
    label = (
        "named_entity_recognition_target" if ner else "single_label_binary_classification_target"
    )
    words = [f"w{i}" for i in range(3000)]
    value = words if ner else " ".join(words)
    cfg = {
        "task_name": "Task990_long",
        "input_name": "text_parts" if ner else "text",
        "label_name": label,
        "recommended_truncation_side": side,
    }
    (folder / "nlp-task-configuration.json").write_text(json.dumps(cfg))
    key = "text_parts" if ner else "text"
    train = [
        {"uid": "a", key: ["w1", "w2"] if ner else "w1 w2", label: ["B-X", "O"] if ner else True},
        {"uid": "b", key: ["w3"] if ner else "w3", label: ["O"] if ner else False},
    ]
    (folder / "nlp-training-dataset.json").write_text(json.dumps(train))
    (folder / "nlp-test-dataset.json").write_text(json.dumps([{"uid": "t", key: value}]))
    return folder


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("ner", [False, True])
def test_long_reports_are_cut_on_the_recommended_side(tmp_path, settings, side, ner):
    engine = FakeEngine(schema_answer, threaded=False)
    job = load_job(_long_job(tmp_path, side, ner))
    result = run_job(
        job, settings.model_copy(update={"ctx_per_slot": 1024}), engine, tmp_path / "out"
    )
    assert result.truncated == 1
    report = engine.requests[0].messages[-1]["content"]
    kept = re.findall(r"w\d+", report)
    assert 50 < len(kept) < 1000
    if side == "left":
        assert kept[-1] == "w2999" and "w0" not in kept
    else:
        assert kept[0] == "w0" and "w2999" not in kept
    preds = json.loads(result.predictions_path.read_text())
    if ner:  # the cut words are still predicted, as "O"
        assert len(preds[0]["named_entity_recognition"]) == 3000


def test_failed_rows_still_get_valid_predictions_and_resume_reuses_records(tmp_path, settings):
    job = load_job(INPUT / "Task107_Example_ml_reg-fold0")
    failing = FakeEngine(lambda r: Completion.failed("boom"), threaded=False)
    first = run_job(job, settings, failing, tmp_path / "out", limit=6)
    preds = json.loads(first.predictions_path.read_text())
    assert first.summary.failures == 6
    assert all(
        len(p["multi_label_regression"]) == 5 and None not in p["multi_label_regression"]
        for p in preds
    )
    engine = FakeEngine(schema_answer, threaded=False)
    again = run_job(job, settings, engine, tmp_path / "out", limit=6)
    assert again.summary.reused == 6 and engine.requests == []  # failures are records too
    assert json.loads(again.predictions_path.read_text()) == preds


def test_cli_run_and_options(tmp_path, monkeypatch):
    import clinextract.engines as engines

    monkeypatch.setattr(engines, "create_engine", lambda s: FakeEngine(schema_answer))
    from clinextract.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "dragon",
            "run",
            str(INPUT),
            str(out),
            "--tasks",
            "103,Task105",
            "--folds",
            "0",
            "--limit",
            "4",
            "--num-examples",
            "2",
            "--parallel",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    made = sorted(p.parent.name for p in out.glob("*/nlp-predictions-dataset.json"))
    assert made == ["Task103_Example_mednli-fold0", "Task105_Example_ml_mc_clf-fold0"]
    sidecar = json.loads((out / made[0] / "run" / "dragon.json").read_text())
    assert sidecar["examples"]["given"] == 8 and sidecar["instruction"] == "generic"
    bad = CliRunner().invoke(cli, ["dragon", "run", str(INPUT), str(out), "--tasks", "Task1"])
    assert bad.exit_code == 2  # several tasks match


def test_find_jobs_by_name_part_and_fold(tmp_path):
    assert [j.task_name for j in find_jobs(INPUT, ["101", "Example_ml_ner"])] == [
        "Task101_Example_sl_bin_clf",
        "Task109_Example_ml_ner",
    ]
    assert len(find_jobs(INPUT / "Task103_Example_mednli-fold0")) == 1
    from clinextract.errors import ConfigError

    with pytest.raises(ConfigError):
        find_jobs(INPUT, folds=[3])
    with pytest.raises(ConfigError):
        find_jobs(tmp_path)


def test_logprob_hook_asks_the_engine_and_keeps_them_in_the_record(tmp_path, settings):
    """The pipeline's generic hook: Task.top_logprobs → Request.top_logprobs; the accepted
    answer's log-probabilities land in records.jsonl; tasks that do not ask get none."""
    for name, wanted in (("Task104_Example_ml_bin_clf", 10), ("Task106_Example_sl_reg", 0)):
        engine = FakeEngine(schema_answer, threaded=False)
        result = run_job(load_job(INPUT / f"{name}-fold0"), settings, engine, tmp_path, limit=3)
        assert {r.top_logprobs for r in engine.requests} == {wanted}
        lines = (result.predictions_path.parent / "run" / "records.jsonl").read_text()
        records = [json.loads(line) for line in lines.splitlines()]
        assert all(("logprobs" in r) == bool(wanted) for r in records)
        if wanted:
            token, logprob, top = records[0]["logprobs"][0]
            assert isinstance(token, str) and isinstance(top, dict)


def test_balanced_pool_alternates_answers_and_keeps_the_most_similar():
    from clinextract.dragon.inputs import BudgetPool, TokenCounter
    from clinextract.examples import Example

    texts = [
        "lesion lesion lesion a",
        "lesion lesion b",
        "lesion c",
        "lesion d",
        "other e",
        "other f",
    ]
    answers = ['{"answer":true}'] * 4 + ['{"answer":false}'] * 2
    examples = [Example(t, a) for t, a in zip(texts, answers, strict=True)]
    plain = BudgetPool(examples, TokenCounter(), budget=10_000)
    balanced = BudgetPool(examples, TokenCounter(), budget=10_000, balance=True)
    assert [e.output for e in plain.select("lesion", 2)] == ['{"answer":true}'] * 2
    chosen = balanced.select("lesion", 2)
    assert sorted(e.output for e in chosen) == ['{"answer":false}', '{"answer":true}']
    assert chosen[-1].input == "lesion lesion lesion a"  # the most similar sits last
    assert balanced.hash != plain.hash  # a different selection is a different config
    tight = BudgetPool(examples, TokenCounter(), budget=30)
    assert len(tight.select("lesion", 3)) < 3 and tight.given < tight.asked


def test_dragon_makes_its_own_choice_of_examples_for_auto(tmp_path, settings, synthetic_job):
    """`num_examples` "auto" (the default) means DRAGON's own number, not the generic one."""
    from clinextract.dragon.runner import DRAGON_NUM_EXAMPLES, SIDECAR

    assert settings.num_examples == "auto"
    engine = FakeEngine(schema_answer, threaded=False)
    job = synthetic_job("Task102_Example_sl_mc_clf")
    result = run_job(job, settings, engine, tmp_path / "out", limit=3)
    sidecar = json.loads((result.summary.run_dir / SIDECAR).read_text())
    assert sidecar["examples"]["per_case"] == DRAGON_NUM_EXAMPLES
    shown = {len(r.messages) for r in engine.requests}
    assert shown == {2 + 2 * DRAGON_NUM_EXAMPLES}
