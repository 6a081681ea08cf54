"""`clinextract dragon evaluate` equals the official dragon_eval 0.2.6.

Random predictions (seeded) for every task type: the nine synthetic tasks with their real
ground truth, plus made-up ground truth under real DRAGON task names for the types the
synthetic tasks lack (per-label AUC, other regression epsilons, multi-class lists, a
second fold). The built-in scorer must give the package's numbers to 1e-9, and refuse
what the package refuses."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from clinextract.dragon.evaluate import (
    EvaluationError,
    evaluate,
    evaluate_builtin,
    evaluate_official,
    find_scope,
)
from tests.paths import SYNTHETIC

pytest.importorskip("dragon_eval", reason="the official scorer is in the `dragon` extra")

GT = SYNTHETIC / "ground-truth"


def _tags_pool(rows, label):
    flat = set()
    for r in rows:
        for t in r[label]:
            flat.update(t if isinstance(t, list) else [t])
    return sorted(flat) + ["B-INVENTED", "I-INVENTED", "I-lesion"]


def random_prediction(rng: random.Random, label: str, value, pool):
    """A prediction of the right shape, right or wrong at random, with ties and edge
    values so the tie handling of AUC and kappa is exercised."""
    if label.startswith("single_label_binary"):
        return rng.choice([rng.random(), rng.choice([0.0, 1.0, 0.5]), float(value)])
    if label.startswith("multi_label_binary"):
        return [rng.choice([rng.random(), 0.5, float(v)]) for v in value]
    if label.startswith("single_label_multi"):
        return value if rng.random() < 0.5 else rng.choice(pool)
    if label.startswith("multi_label_multi"):
        return [v if rng.random() < 0.5 else rng.choice(pool) for v in value]
    if label.startswith("single_label_reg"):
        return rng.choice([value, value + rng.gauss(0, 10), 0.0, -3.5])
    if label.startswith("multi_label_reg"):
        return [(v if v is not None else 1.0) + rng.choice([0, rng.gauss(0, 5)]) for v in value]
    if label.startswith("named"):
        return [t if rng.random() < 0.7 else rng.choice(pool) for t in value]
    return [t if rng.random() < 0.7 else rng.sample(pool, rng.choice([1, 1, 2])) for t in value]


def write_predictions(rng: random.Random, gt_dir: Path, pred_dir: Path, folds=(0,)) -> None:
    for gt in sorted(gt_dir.glob("*.json")):
        rows = json.loads(gt.read_text())
        label = next(k for k in rows[0] if k.endswith("_target"))
        pool = (
            _tags_pool(rows, label)
            if "named" in label
            else sorted(
                {v for r in rows for v in (r[label] if isinstance(r[label], list) else [r[label]])},
                key=str,
            )
        )
        for fold in folds:
            preds = [
                {
                    "uid": r["uid"],
                    label.replace("_target", ""): random_prediction(rng, label, r[label], pool),
                }
                for r in rows
            ]
            rng.shuffle(preds)
            out = pred_dir / f"{gt.stem}-fold{fold}" / "nlp-predictions-dataset.json"
            out.parent.mkdir(parents=True)
            out.write_text(json.dumps(preds))


def assert_same(a: dict, b: dict) -> None:
    assert a["case"].keys() == b["case"].keys()
    for task, jobs in b["case"].items():
        assert jobs.keys() == a["case"][task].keys()
        for job, score in jobs.items():
            assert a["case"][task][job] == pytest.approx(score, abs=1e-9, nan_ok=True), job
    for task, agg in b["aggregates"].items():
        assert a["aggregates"][task]["mean"] == pytest.approx(agg["mean"], abs=1e-9)
        assert a["aggregates"][task]["std"] == pytest.approx(agg["std"], abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_builtin_equals_official_on_random_synthetic_predictions(tmp_path, seed):
    write_predictions(random.Random(seed), GT, tmp_path)
    scope = find_scope(tmp_path, GT)
    assert len(scope.tasks) == 9
    assert_same(evaluate_builtin(tmp_path, GT, scope), evaluate_official(tmp_path, GT, scope))


def made_up_ground_truth(rng: random.Random, gt_dir: Path) -> None:
    """Ground truth under real task names, for the types the synthetic tasks lack."""
    gt_dir.mkdir()
    n = 60

    def rows(label, make):
        return [{"uid": f"case{i}", "text": "x", label: make(i)} for i in range(n)]

    specs = {
        "Task015_colon_pathology_clf": rows(
            "multi_label_binary_classification_target",
            lambda i: [rng.random() < 0.4 for _ in range(7)],
        ),
        "Task017_pdac_attributes_clf": rows(
            "multi_label_multi_class_classification_target",
            lambda i: [rng.choice(["hypo", "iso", "nm"]), rng.choice(["head", "tail", "nm"])],
        ),
        "Task010_prostate_radiology_clf": rows(
            "single_label_multi_class_classification_target",
            lambda i: rng.choice(["0", "1", "2", "3"]),
        ),
        "Task020_psa_reg": rows(
            "single_label_regression_target", lambda i: round(rng.uniform(0, 30), 1)
        ),
        "Task021_psad_reg": rows(
            "single_label_regression_target", lambda i: round(rng.uniform(0, 1), 2)
        ),
        "Task024_recist_lesion_size_reg": rows(
            "multi_label_regression_target",
            lambda i: [rng.choice([None, rng.uniform(3, 80)]) for _ in range(5)],
        ),
        "Task002_nodule_clf": rows(
            "single_label_binary_classification_target", lambda i: rng.random() < 0.3
        ),
    }
    for name, data in specs.items():
        (gt_dir / f"{name}.json").write_text(json.dumps(data))


@pytest.mark.parametrize("seed", range(2))
def test_builtin_equals_official_for_real_task_types_and_several_folds(tmp_path, seed):
    rng = random.Random(100 + seed)
    made_up_ground_truth(rng, tmp_path / "gt")
    write_predictions(rng, tmp_path / "gt", tmp_path / "pred", folds=(0, 1, 2))
    scope = find_scope(tmp_path / "pred", tmp_path / "gt")
    assert scope.folds == [0, 1, 2] and len(scope.tasks) == 7
    official = evaluate_official(tmp_path / "pred", tmp_path / "gt", scope)
    assert_same(evaluate_builtin(tmp_path / "pred", tmp_path / "gt", scope), official)
    assert official["aggregates"]["overall"]["std"] > 0  # the folds really differ


def _one_task(tmp_path: Path, edit) -> Path:
    task = "Task101_Example_sl_bin_clf"
    rows = json.loads((GT / f"{task}.json").read_text())
    preds = [{"uid": r["uid"], "single_label_binary_classification": 0.5} for r in rows]
    preds = edit(preds)
    out = tmp_path / f"{task}-fold0" / "nlp-predictions-dataset.json"
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps(preds))
    return tmp_path


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p[1:],  # a missing uid
        lambda p: [*p, {"uid": "Task101_nope", "single_label_binary_classification": 0.1}],
        lambda p: [{"uid": x["uid"], "single_label_binary_classification_target": 1} for x in p],
        lambda p: [{"uid": x["uid"], "wrong_key": 1} for x in p],
    ],
)
def test_both_scorers_refuse_what_the_official_evaluator_refuses(tmp_path, edit):
    pred = _one_task(tmp_path, edit)
    for scorer in ("builtin", "official"):
        with pytest.raises((EvaluationError, ValueError, KeyError, IndexError)):
            evaluate(pred, GT, tasks=["101"], scorer=scorer)


def test_unknown_task_scored_by_label_type_with_builtin(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    rows = [
        {"uid": str(i), "text": "t", "single_label_binary_classification_target": i % 2 == 0}
        for i in range(10)
    ]
    (gt / "Task500_custom.json").write_text(json.dumps(rows))
    pred = tmp_path / "pred" / "Task500_custom-fold0" / "nlp-predictions-dataset.json"
    pred.parent.mkdir(parents=True)
    pred.write_text(
        json.dumps(
            [
                {
                    "uid": str(i),
                    "single_label_binary_classification": 1.0 if i % 2 == 0 else 0.2 * (i % 3),
                }
                for i in range(10)
            ]
        )
    )
    metrics = evaluate(tmp_path / "pred", gt)
    assert metrics["scorer"] == "builtin"  # the package does not know the task
    assert metrics["case"]["Task500_custom"]["Task500_custom-fold0"] == 1.0


def test_cli_evaluate_writes_official_metrics(tmp_path, cli_env):
    write_predictions(random.Random(7), GT, tmp_path / "pred")
    out = tmp_path / "metrics.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clinextract.cli",
            "dragon",
            "evaluate",
            str(tmp_path / "pred"),
            str(GT),
            "--tasks",
            "101,108",
            "--output",
            str(out),
            "--scorer",
            "builtin",
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Task108_Example_sl_ner" in done.stdout and "overall" in done.stdout
    metrics = json.loads(out.read_text())
    scope = find_scope(tmp_path / "pred", GT, ["101", "108"])
    assert_same(metrics, evaluate_official(tmp_path / "pred", GT, scope))
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "clinextract.cli",
            "dragon",
            "evaluate",
            str(tmp_path / "nope"),
            str(GT),
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert bad.returncode == 2 and "not found" in bad.stderr


@pytest.mark.parametrize("spelling", [["0", "1", "2"], ["0,1,2"], ["0,1", "2"]])
def test_folds_in_the_official_evaluators_spelling_and_ours(tmp_path, spelling):
    from click.testing import CliRunner

    from clinextract.cli import cli

    write_predictions(random.Random(3), GT, tmp_path / "pred", folds=(0, 1, 2))
    out = tmp_path / "metrics.json"
    args = ["dragon", "evaluate", str(tmp_path / "pred"), str(GT), "--tasks", "101"]
    done = CliRunner().invoke(
        cli, [*args, "--folds", *spelling, "-o", str(out), "--scorer", "builtin"]
    )
    assert done.exit_code == 0, done.output
    assert set(json.loads(out.read_text())["case"]["Task101_Example_sl_bin_clf"]) == {
        f"Task101_Example_sl_bin_clf-fold{k}" for k in (0, 1, 2)
    }
    stray = CliRunner().invoke(cli, [*args, "--folds", "0", "extra"])
    assert stray.exit_code == 2 and "unexpected extra arguments: extra" in stray.output
