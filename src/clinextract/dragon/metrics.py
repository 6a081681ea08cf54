"""The DRAGON metrics, computed the way dragon_eval 0.2.6 computes them.

dragon_eval calls scikit-learn (ROC AUC, Cohen's kappa) and seqeval (entity F1); these
are re-implementations of exactly the code paths it uses, quirks included, so scoring
needs only numpy and pandas. `tests/test_dragon_evaluate.py` checks them against the
package itself on random predictions for every task type.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


# --- ROC AUC (sklearn.metrics.roc_auc_score, binary case) ------------------------------
def roc_auc(y_true: Sequence[Any], y_score: Sequence[Any]) -> float:
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.shape != y_score.shape or y_true.ndim != 1:
        raise ValueError(f"inconsistent lengths: {y_true.shape} vs {y_score.shape}")
    if not (np.all(np.isfinite(y_score)) and np.all(np.isfinite(y_true.astype(float)))):
        raise ValueError("Input contains NaN or infinity.")
    classes = np.unique(y_true)
    if len(classes) > 2:
        raise ValueError("multiclass format is not supported")
    if len(classes) != 2:
        return float("nan")  # sklearn warns and returns NaN when one class is present
    positive = y_true == classes[-1]
    order = np.argsort(-y_score, kind="stable")
    score, truth = y_score[order], positive[order].astype(float)
    distinct = np.nonzero(np.diff(score))[0]
    idx = np.concatenate([distinct, [truth.size - 1]])
    tps = np.cumsum(truth)[idx]
    fps = 1 + idx - tps
    if fps.shape[0] > 2:  # drop collinear points, as roc_curve(drop_intermediate=True)
        keep = np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]])
        keep = np.nonzero(keep)[0]
        fps, tps = fps[keep], tps[keep]
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    return float(np.trapezoid(tpr, fpr))


# --- Cohen's kappa (sklearn.metrics.cohen_kappa_score) ---------------------------------
def cohen_kappa(y1: Sequence[Any], y2: Sequence[Any], weights: str | None = None) -> float:
    a, b = list(y1), list(y2)
    if len(a) != len(b):
        raise ValueError(f"inconsistent lengths: {len(a)} vs {len(b)}")
    values = a + b
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
        raise ValueError("Input contains NaN")
    kinds = {isinstance(v, str) for v in values}
    if len(kinds) > 1:
        raise ValueError("Mix of label input types (string and number)")
    labels = sorted(set(values))
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    confusion = np.zeros((n, n), dtype=float)
    for u, v in zip(a, b, strict=True):
        confusion[index[u], index[v]] += 1
    sum0, sum1 = confusion.sum(axis=0), confusion.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        return float("nan")
    expected = np.outer(sum0, sum1) / total
    if weights is None:
        w = np.ones((n, n))
        np.fill_diagonal(w, 0)
    else:
        grid = np.zeros((n, n)) + np.arange(n)
        w = np.abs(grid - grid.T) if weights == "linear" else (grid - grid.T) ** 2
    denominator = np.sum(w * expected)
    if denominator == 0:
        return float("nan")
    return float(1 - np.sum(w * confusion) / denominator)


# --- R-SMAPE (dragon_eval.evaluation.score_rsmape) -------------------------------------
def rsmape(y_true: Any, y_pred: Any, epsilon: float) -> float:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    mask = ~np.isnan(t)
    t, p = t[mask], p[mask]
    return float(1 - np.mean(np.abs(t - p) / (np.abs(t) + np.abs(p) + epsilon)))


# --- seqeval (default mode, IOB prefix tags) -------------------------------------------
def get_entities(seq: Sequence[Any]) -> list[tuple[str, int, int]]:
    """seqeval.metrics.sequence_labeling.get_entities (suffix=False)."""
    if any(isinstance(s, list) for s in seq):
        seq = [item for sub in seq for item in [*sub, "O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, chunk in enumerate([*seq, "O"]):
        tag = chunk[0]
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S") and tag in ("E", "I"):
        return True
    if prev_tag == "O" and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def seqeval_f1(y_true: Sequence[Any], y_pred: Sequence[Any], average: str) -> float:
    """seqeval.metrics.f1_score(average='macro'|'weighted'), zero_division='warn' (→ 0)."""
    lengths_true, lengths_pred = list(map(len, y_true)), list(map(len, y_pred))
    if set(map(type, y_true)) | set(map(type, y_pred)) != {list}:
        raise TypeError("Found input variables without list of list.")
    if len(lengths_true) != len(lengths_pred) or lengths_true != lengths_pred:
        raise ValueError("Found input variables with inconsistent numbers of samples")
    true_sets: dict[str, set] = defaultdict(set)
    pred_sets: dict[str, set] = defaultdict(set)
    for name, start, end in get_entities(y_true):
        true_sets[name].add((start, end))
    for name, start, end in get_entities(y_pred):
        pred_sets[name].add((start, end))
    names = sorted(set(true_sets) | set(pred_sets))
    tp = np.array([len(true_sets[n] & pred_sets[n]) for n in names], dtype=float)
    n_pred = np.array([len(pred_sets[n]) for n in names], dtype=float)
    n_true = np.array([len(true_sets[n]) for n in names], dtype=float)
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred != 0)
    recall = np.divide(tp, n_true, out=np.zeros_like(tp), where=n_true != 0)
    denom = precision + recall
    denom[denom == 0.0] = 1
    f1 = 2 * precision * recall / denom
    if average == "weighted":
        if n_true.sum() == 0:
            return 0.0
        return float(np.average(f1, weights=n_true))
    return float(np.average(f1))


def multi_label_f1(y_true: pd.Series, y_pred: pd.Series) -> float:
    """dragon_eval's score_multi_label_f1 (average='weighted'): per entity label of the
    truth, tags reduced to that label (matched by substring), F1, weighted by count."""
    labels = sorted(
        {re.sub(r"^[BI]-", "", lbl) for lbl in y_true.explode().explode().unique() if lbl != "O"}
    )
    scores, support = [], []
    for label in labels:
        t = y_true.apply(lambda tags, label=label: _select(tags, label))
        p = y_pred.apply(lambda tags, label=label: _select(tags, label))
        support.append(len(get_entities(list(t))))
        scores.append(seqeval_f1(list(t), list(p), average="weighted"))
    return float(np.average(scores, weights=support))


def _select(tags: list[list[str]], label: str) -> list[str]:
    picked = [[t for t in token if label in t] for token in tags]
    return [(token[0] if token else "O") for token in picked]
