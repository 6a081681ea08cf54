"""Score predictions against ground truth exactly like the official `dragon_eval` 0.2.6.

Layout, as the official evaluator expects it:

    PRED/<TaskName>-fold<k>/nlp-predictions-dataset.json
    GT/<TaskName>.json

Two scorers give the same numbers: `builtin` (this module and `metrics.py`: the same
pandas loading, merging and checks, the metrics re-implemented on numpy) and `official`
(the `dragon_eval` package itself, in the `dragon` extra). `auto` uses the package when
it is installed and knows the task, the built-in scorer otherwise.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .jobs import PREDICTIONS, resolve_tasks
from .metrics import cohen_kappa, multi_label_f1, roc_auc, rsmape, seqeval_f1

VERSION = "0.2.6"
BINARY, BINARY_PER_LABEL = "binary (AUC)", "binary per label (mean AUC)"
ORDINAL, NOMINAL = "ordinal (linear kappa)", "non-ordinal (kappa)"
REGRESSION, NER, MULTI_NER = "regression (R-SMAPE)", "NER (macro F1)", "multi-label NER (F1)"

# The official task list (dragon_eval.evaluation.TASK_TYPE) and regression epsilons.
TASK_TYPE = {
    "Task101_Example_sl_bin_clf": BINARY,
    "Task102_Example_sl_mc_clf": ORDINAL,
    "Task103_Example_mednli": ORDINAL,
    "Task104_Example_ml_bin_clf": BINARY,
    "Task105_Example_ml_mc_clf": NOMINAL,
    "Task106_Example_sl_reg": REGRESSION,
    "Task107_Example_ml_reg": REGRESSION,
    "Task108_Example_sl_ner": NER,
    "Task109_Example_ml_ner": MULTI_NER,
    **{
        name: BINARY
        for name in (
            "Task001_adhesion_clf",
            "Task002_nodule_clf",
            "Task003_kidney_clf",
            "Task004_skin_case_selection_clf",
            "Task005_recist_timeline_clf",
            "Task006_pathology_tumor_origin_clf",
            "Task007_nodule_diameter_presence_clf",
            "Task008_pdac_size_presence_clf",
            "Task016_recist_lesion_size_presence_clf",
        )
    },
    "Task009_pdac_diagnosis_clf": NOMINAL,
    "Task010_prostate_radiology_clf": ORDINAL,
    "Task011_prostate_pathology_clf": ORDINAL,
    "Task012_pathology_tissue_type_clf": NOMINAL,
    "Task013_pathology_tissue_origin_clf": NOMINAL,
    "Task014_textual_entailment_clf": ORDINAL,
    "Task015_colon_pathology_clf": BINARY_PER_LABEL,
    "Task017_pdac_attributes_clf": NOMINAL,
    "Task018_osteoarthritis_clf": NOMINAL,
    **{
        name: REGRESSION
        for name in (
            "Task019_prostate_volume_reg",
            "Task020_psa_reg",
            "Task021_psad_reg",
            "Task022_pdac_size_reg",
            "Task023_nodule_diameter_reg",
            "Task024_recist_lesion_size_reg",
        )
    },
    "Task025_anonymisation_ner": NER,
    "Task026_medical_terminology_ner": NER,
    "Task027_prostate_biopsy_ner": MULTI_NER,
    "Task028_skin_pathology_ner": MULTI_NER,
}
EPSILON = {"Task020_psa_reg": 0.4, "Task021_psad_reg": 0.04}  # others: 4
# For task names the official evaluator does not know (it refuses them): by label type.
BY_LABEL = {
    "single_label_binary_classification_target": BINARY,
    "multi_label_binary_classification_target": BINARY,
    "single_label_multi_class_classification_target": NOMINAL,
    "multi_label_multi_class_classification_target": NOMINAL,
    "single_label_regression_target": REGRESSION,
    "multi_label_regression_target": REGRESSION,
    "named_entity_recognition_target": NER,
    "multi_label_named_entity_recognition_target": MULTI_NER,
}


class EvaluationError(ConfigError):
    """The predictions cannot be scored (missing or extra uids, wrong columns)."""


@dataclass
class Scope:
    tasks: list[str]
    folds: list[int]


def read_cases(path: Path) -> pd.DataFrame:
    with open(path) as fh:
        return pd.read_json(fh, dtype={"uid": str})


def merge_cases(truth: pd.DataFrame, pred: pd.DataFrame, job: str) -> pd.DataFrame:
    """evalutils' ClassificationEvaluation: uid columns, outer merge, no gaps."""
    for name, frame in (("ground truth", truth), ("predictions", pred)):
        if "uid" not in frame.columns:
            raise EvaluationError(f"{job}: the {name} have no 'uid' column")
    cases = pd.merge(
        left=truth,
        right=pred,
        indicator=True,
        how="outer",
        suffixes=("_ground_truth", "_prediction"),
        on="uid",
    )
    missing = list(cases.loc[cases["_merge"] == "left_only", "uid"])
    if missing:
        raise EvaluationError(f"{job}: predictions missing for {missing[:5]}")
    extra = list(cases.loc[cases["_merge"] == "right_only", "uid"])
    if extra:
        raise EvaluationError(f"{job}: predictions for unknown uids {extra[:5]}")
    return cases


def task_kind(task_name: str, label_name: str | None = None) -> str:
    if task_name in TASK_TYPE:
        return TASK_TYPE[task_name]
    if label_name in BY_LABEL:
        return BY_LABEL[label_name]
    raise EvaluationError(f"unknown task {task_name!r} and no known label column")


def score_cases(task_name: str, cases: pd.DataFrame, job: str = "") -> float:
    """One job's score from its merged ground truth + predictions."""
    targets = [c for c in cases.columns if c.endswith("_target")]
    if not targets:
        raise EvaluationError(f"{job}: no *_target column (a prediction key ends in _target?)")
    label = targets[0]
    key = label.replace("_target", "")
    if key not in cases.columns:
        raise EvaluationError(f"{job}: no prediction column {key!r} for {label}")
    y_true, y_pred = cases[label], cases[key]
    kind = task_kind(task_name, label)
    if kind == ORDINAL:
        return cohen_kappa(list(y_true), list(y_pred), weights="linear")
    if kind == NOMINAL:
        return cohen_kappa(list(y_true.explode()), list(y_pred.explode()), weights=None)
    if kind == BINARY:
        return roc_auc(
            y_true.explode().explode().values.astype(int),
            y_pred.explode().explode().values.astype(float),
        )
    if kind == BINARY_PER_LABEL:
        return float(
            np.mean(
                [
                    roc_auc(
                        np.asarray(list(y_true.apply(lambda v, i=i: v[i]))),
                        np.asarray(list(y_pred.apply(lambda v, i=i: v[i]))),
                    )
                    for i in range(len(y_true.iloc[0]))
                ]
            )
        )
    if kind == REGRESSION:
        return rsmape(
            y_true.explode().astype(float),
            y_pred.explode().astype(float),
            EPSILON.get(task_name, 4),
        )
    if kind == NER:
        return seqeval_f1(list(y_true), list(y_pred), average="macro")
    return multi_label_f1(y_true, y_pred)


def find_scope(
    pred: Path, gt: Path, tasks: list[str] | tuple = (), folds: list[int] | tuple = ()
) -> Scope:
    """Tasks (full names from GT) and folds to score; by default those with predictions."""
    if not gt.is_dir():
        raise ConfigError(f"ground-truth folder not found: {gt}")
    if not pred.is_dir():
        raise ConfigError(f"predictions folder not found: {pred}")
    names = sorted(p.stem for p in gt.glob("*.json"))
    if not names:
        raise ConfigError(f"{gt}: no <TaskName>.json ground-truth files")
    if tasks:
        chosen = resolve_tasks(list(tasks), names)
    else:
        chosen = [n for n in names if any(pred.glob(f"{n}-fold*/{PREDICTIONS}"))]
        if not chosen:
            raise ConfigError(f"{pred}: no <TaskName>-fold<k>/{PREDICTIONS} for tasks in {gt}")
    if not folds:
        found = {
            int(p.parent.name.rsplit("-fold", 1)[1])
            for n in chosen
            for p in pred.glob(f"{n}-fold*/{PREDICTIONS}")
            if p.parent.name.rsplit("-fold", 1)[1].isdigit()
        }
        folds = sorted(found) or [0]
    return Scope(chosen, sorted(folds))


def evaluate_builtin(pred: Path, gt: Path, scope: Scope) -> dict[str, Any]:
    scores: dict[str, dict[str, float]] = {}
    for task in scope.tasks:
        truth = read_cases(gt / f"{task}.json")
        for fold in scope.folds:
            job = f"{task}-fold{fold}"
            path = pred / job / PREDICTIONS
            if not path.exists():
                raise EvaluationError(f"{job}: no predictions file {path}")
            cases = merge_cases(truth, read_cases(path), job)
            scores.setdefault(task, {})[job] = score_cases(task, cases, job)
    return {"case": scores, "aggregates": aggregate(scores), "version": VERSION}


def aggregate(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per task mean and population std over folds; overall: mean of the task means (and
    of the stds), as dragon_eval computes them."""
    out = {
        task: {"mean": float(np.mean(list(s.values()))), "std": float(np.std(list(s.values())))}
        for task, s in scores.items()
    }
    out["overall"] = {
        "mean": float(np.mean([v["mean"] for v in out.values()])),
        "std": float(np.mean([v["std"] for v in out.values()])),
    }
    return out


def official_available() -> bool:
    try:
        import dragon_eval  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate_official(pred: Path, gt: Path, scope: Scope) -> dict[str, Any]:
    """Run the dragon_eval package itself (its console output is swallowed)."""
    from dragon_eval import DragonEval

    with tempfile.TemporaryDirectory(prefix="clinextract-dragon-") as tmp:
        out = Path(tmp) / "metrics.json"
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                DragonEval(
                    ground_truth_path=gt,
                    predictions_path=pred,
                    output_file=out,
                    folds=scope.folds,
                    tasks=scope.tasks,
                ).evaluate()
        except Exception as exc:  # the package's own checks (evalutils, pandas, sklearn)
            raise EvaluationError(f"dragon_eval: {type(exc).__name__}: {exc}") from exc
        return json.loads(out.read_text())


def evaluate(
    pred: Path,
    gt: Path,
    tasks: list[str] | tuple = (),
    folds: list[int] | tuple = (),
    scorer: str = "auto",
) -> dict[str, Any]:
    """Metrics in the official shape: {"case": {task: {job: score}}, "aggregates": ...}."""
    pred, gt = Path(pred), Path(gt)
    scope = find_scope(pred, gt, tasks, folds)
    if scorer == "auto":
        known = all(t in TASK_TYPE for t in scope.tasks)
        scorer = "official" if known and official_available() else "builtin"
    if scorer == "official":
        if not official_available():
            raise ConfigError(
                "--scorer official needs dragon_eval: pip install 'clinextract[dragon]'"
            )
        metrics = evaluate_official(pred, gt, scope)
    elif scorer == "builtin":
        metrics = evaluate_builtin(pred, gt, scope)
    else:
        raise ConfigError(f"unknown scorer {scorer!r} (auto, official, builtin)")
    metrics["scorer"] = scorer
    return metrics
