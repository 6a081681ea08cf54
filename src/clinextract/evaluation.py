"""Scoring runs against gold, per column, with 95 % bootstrap intervals: the one metric
code of `clinextract evaluate` and the Studio's Evaluate page.

Gold is `{id: {column: value}}` (gold.py: a column absent for an id was not labelled and
does not count there); a run's predictions are its records' fields by id. Only ids that
every compared run has are scored, so runs side by side (models, prompts, example
counts) are scored on the same rows; a gold id no run has is counted apart, while a row
a run failed is in the run, with null fields, and counts as wrong.

  accuracy  share of rows where prediction == gold after normalising
            (text and choices: trimmed, case-folded; yes/no: true/false/yes/no/1/0;
            numbers: numeric equality; lists: the same set of items)
  F1        choice and yes/no: macro F1 over the labels seen in gold or predictions;
            lists: micro F1 over items; text and numbers: none
  MAE       numbers: mean absolute error over rows where both are numbers
  missing   rows where gold has a value and the prediction has none

Every metric is a function of per-row counts summed over rows, so the bootstrap (the
same resampled rows for every run: paired) only re-sums them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .columns import FALSE_WORDS, NUMERIC, TRUE_WORDS, Column, flatten
from .errors import ConfigError

CATEGORICAL = ("choice", "yes/no")
NONE_LABEL = "(none)"
BOOTSTRAP = 1000  # resamples for the 95 % intervals
LEVEL = 0.95

Values = dict[str, dict[str, Any]]  # id → {column: value}


@dataclass(frozen=True)
class FieldScore:
    field: str
    kind: str
    n: int
    accuracy: float | None
    f1: float | None
    mae: float | None
    missing: int
    # 95 % bootstrap intervals (low, high) of the three metrics; None where not defined
    accuracy_ci: tuple[float, float] | None = None
    f1_ci: tuple[float, float] | None = None
    mae_ci: tuple[float, float] | None = None


@dataclass
class Evaluation:
    """One or more runs scored against gold on the ids they all share."""

    runs: list[str]  # the runs' labels, in the order given
    matched: int  # gold ids that every run has
    gold_only: list[str]  # gold ids some run does not have
    pred_only: dict[str, list[str]]  # per run: its ids that gold does not have
    scores: dict[str, list[FieldScore]]  # per run, per column
    pairs: dict[str, dict[str, tuple[list[Any], list[Any]]]] = field(default_factory=dict)
    # per run, per column: (gold, predicted) normalised, for confusion matrices

    def table(self, run: str | None = None) -> pd.DataFrame:
        """One run's scores (the first by default), a row per column."""
        rows = [asdict(s) for s in self.scores[run or self.runs[0]]]
        return pd.DataFrame(rows, columns=list(FieldScore.__dataclass_fields__))

    def long_table(self) -> pd.DataFrame:
        """Every run's scores, one row per (run, column, metric), with the interval."""
        rows = []
        for run in self.runs:
            for s in self.scores[run]:
                for metric in ("accuracy", "f1", "mae"):
                    value = getattr(s, metric)
                    if value is None:
                        continue
                    low, high = getattr(s, f"{metric}_ci") or (None, None)
                    rows.append(
                        {
                            "run": run,
                            "field": s.field,
                            "kind": s.kind,
                            "metric": "F1" if metric == "f1" else metric.replace("mae", "MAE"),
                            "n": s.n,
                            "value": value,
                            "low": low,
                            "high": high,
                        }
                    )
        return pd.DataFrame(
            rows, columns=["run", "field", "kind", "metric", "n", "value", "low", "high"]
        )


# --- normalising ----------------------------------------------------------------------------


def missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def normalize(value: Any, kind: str) -> Any:
    """A value made comparable for its kind; None when missing or unreadable."""
    if missing(value):
        return None
    if kind in NUMERIC:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(str(value).strip().replace(",", "."))
        except ValueError:
            return None
    if kind == "yes/no":
        if isinstance(value, bool):
            return value
        word = str(value).strip().casefold()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    if kind == "list":
        items = value
        if isinstance(value, str):
            try:
                items = json.loads(value)
            except json.JSONDecodeError:
                items = [p for p in value.split(";")]
        if not isinstance(items, list):
            items = [items]
        return frozenset(_label(x) for x in items if not missing(x))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip().casefold()


def _label(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip().casefold()


def id_text(value: Any) -> str:
    """Ids compared as text: 7, 7.0 and "7" are the same id."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- per-row counts -----------------------------------------------------------------------------


def _row_counts(kind: str, gold: list[Any], pred: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Per row: [correct, missing, has_error, abs_error, then for F1 per label (tp, fp, fn)
    (choice, yes/no) or the list's (tp, fp, fn)]. Returns (counts n×m, the labels)."""
    n = len(gold)
    labels: list[Any] = []
    if kind in CATEGORICAL:
        labels = sorted(set(gold) | {p for p in pred if p is not None}, key=_sort_key)
    width = 4 + 3 * (len(labels) if kind in CATEGORICAL else 1 if kind == "list" else 0)
    counts = np.zeros((n, width))
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        counts[i, 1] = p is None and g is not None
        if kind in NUMERIC:
            counts[i, 0] = p == g if p is None or g is None else math.isclose(p, g, abs_tol=1e-9)
            if p is not None and g is not None:
                counts[i, 2], counts[i, 3] = 1, abs(p - g)
        else:
            counts[i, 0] = p == g
        if kind in CATEGORICAL:
            for j, label in enumerate(labels):
                counts[i, 4 + 3 * j : 7 + 3 * j] = (
                    g == label and p == label,
                    g != label and p == label,
                    g == label and p != label,
                )
        elif kind == "list":
            got = p or frozenset()
            counts[i, 4:7] = len(g & got), len(got - g), len(g - got)
    return counts, labels


def _sort_key(label: Any) -> tuple[str, str]:
    return (type(label).__name__, str(label))


def _metrics(kind: str, sums: np.ndarray, n: int) -> tuple[float | None, ...]:
    """(accuracy, f1, mae) from summed per-row counts over n rows (sums: ...×m)."""
    sums = np.asarray(sums, dtype=float)
    accuracy = sums[..., 0] / n
    mae = np.where(sums[..., 2] > 0, sums[..., 3] / np.maximum(sums[..., 2], 1), np.nan)
    if kind in CATEGORICAL:
        tp, fp, fn = sums[..., 4::3], sums[..., 5::3], sums[..., 6::3]
        seen = tp + fp + fn
        per_label = np.where(seen > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        present = (seen > 0).sum(axis=-1)
        f1 = np.where(present > 0, per_label.sum(axis=-1) / np.maximum(present, 1), 0.0)
    elif kind == "list":
        tp, fp, fn = sums[..., 4], sums[..., 5], sums[..., 6]
        f1 = np.where(tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
    else:
        f1 = None
    return accuracy, f1, mae if kind in NUMERIC else None


def score_field(
    name: str,
    kind: str,
    gold: list[Any],
    pred: list[Any],
    weights: np.ndarray | None = None,
) -> FieldScore:
    """Scores for one column from normalised gold and predicted values (None: null);
    `weights` (resamples × rows: how often each row is drawn) adds the intervals."""
    n = len(gold)
    if n == 0:
        return FieldScore(name, kind, 0, None, None, None, 0)
    counts, _ = _row_counts(kind, gold, pred)
    accuracy, f1, mae = _metrics(kind, counts.sum(axis=0), n)
    intervals: dict[str, tuple[float, float] | None] = {}
    if weights is not None:
        boot = _metrics(kind, weights @ counts, n)
        for key, values in zip(("accuracy_ci", "f1_ci", "mae_ci"), boot, strict=True):
            intervals[key] = _interval(values)
    return FieldScore(
        name,
        kind,
        n,
        float(accuracy),
        None if f1 is None else float(f1),
        None if mae is None or np.isnan(mae) else float(mae),
        int(counts[:, 1].sum()),
        **intervals,
    )


def _interval(values: Any) -> tuple[float, float] | None:
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_weights(n: int, resamples: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """How often each of n rows is drawn, per resample (resamples × n)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1 / n), size=resamples).astype(float)


def macro_f1(gold: list[Any], pred: list[Any]) -> float:
    """Macro F1 over the labels in gold or predictions. Null is a label only where gold
    holds it (the right answer was 'no value'); a null prediction otherwise only misses."""
    return score_field("", "choice", gold, pred).f1 or 0.0


def micro_f1_sets(gold: list[frozenset], pred: list[frozenset | None]) -> float:
    return score_field("", "list", gold, pred).f1 or 0.0


# --- runs against gold ------------------------------------------------------------------------


def evaluate(
    runs: Mapping[str, Values],
    gold: Values,
    kinds: Mapping[str, str],
    *,
    resamples: int = BOOTSTRAP,
    seed: int = 0,
) -> Evaluation:
    """Score every run in `runs` (label → {id: {column: value}}) against `gold` for each
    column of `kinds` (column → kind) that gold labels, on the ids all runs share.
    `resamples=0` leaves the intervals out."""
    labels = list(runs)
    run_ids = {label: {id_text(i): v for i, v in runs[label].items()} for label in labels}
    gold_ids = {id_text(i): v for i, v in gold.items()}
    shared = [i for i in gold_ids if all(i in run_ids[label] for label in labels)]
    scores: dict[str, list[FieldScore]] = {label: [] for label in labels}
    pairs: dict[str, dict[str, tuple[list[Any], list[Any]]]] = {label: {} for label in labels}
    for column, kind in kinds.items():
        ids = [i for i in shared if column in gold_ids[i]]
        if not ids:
            continue
        g_vals = [normalize(gold_ids[i][column], kind) for i in ids]
        if kind == "list":  # no value is an empty list
            g_vals = [frozenset() if g is None else g for g in g_vals]
        weights = bootstrap_weights(len(ids), resamples, seed) if resamples else None
        for label in labels:
            p_vals = [normalize(run_ids[label][i].get(column), kind) for i in ids]
            scores[label].append(score_field(column, kind, g_vals, p_vals, weights))
            pairs[label][column] = (g_vals, p_vals)
    return Evaluation(
        runs=labels,
        matched=len(shared),
        gold_only=[i for i in gold_ids if i not in shared],
        pred_only={label: [i for i in run_ids[label] if i not in gold_ids] for label in labels},
        scores=scores,
        pairs=pairs,
    )


def evaluate_runs(
    run_dirs: list[Path],
    gold_source: Path,
    *,
    id_field: str | None = None,
    empty: str = "auto",
    resamples: int = BOOTSTRAP,
) -> tuple[Evaluation, list[Column]]:
    """Runs side by side against gold from a file (gold.read_gold) or from a run's
    reviews, on the ids every run has: what `clinextract evaluate` and the Studio's
    Evaluate page both call. The columns are the first run's."""
    from .review import RunReview, gold_of

    if not run_dirs:
        raise ConfigError("evaluate needs at least one run folder")
    reviews = [RunReview(d) for d in run_dirs]
    columns = reviews[0].columns
    gold = gold_of(gold_source, columns, id_field=id_field or reviews[0].id_field, empty=empty)
    labels = run_labels(run_dirs)
    runs = {label: run_values(r.records, columns) for label, r in zip(labels, reviews, strict=True)}
    kinds = {c.path: c.kind for c in columns}
    return evaluate(runs, gold, kinds, resamples=resamples), columns


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Short names for runs side by side: <run-name>/<task>-runK, or the path if they clash."""
    short = [f"{Path(d).parent.name}/{Path(d).name}" for d in run_dirs]
    return short if len(set(short)) == len(short) else [str(d) for d in run_dirs]


def side_by_side(evaluation: Evaluation) -> pd.DataFrame:
    """One row per (column, metric), one text cell per run: 'value [low, high]'."""
    long = evaluation.long_table()
    rows = []
    for (name, metric), group in long.groupby(["field", "metric"], sort=False):
        row = {"field": name, "metric": metric, "n": int(group["n"].iloc[0])}
        by_run = {r.run: r for r in group.itertuples()}
        for label in evaluation.runs:
            r = by_run.get(label)
            ci = None if r is None or pd.isna(r.low) else (r.low, r.high)
            row[label] = interval_text(None if r is None else r.value, ci)
        rows.append(row)
    return pd.DataFrame(rows, columns=["field", "metric", "n", *evaluation.runs])


def run_values(records: Mapping[int, Mapping[str, Any]], columns: list[Column]) -> Values:
    """A run's predictions by id and column, from its records."""
    return {str(rec["id"]): flatten(rec.get("fields"), columns) for rec in records.values()}


def infer_kind(values: list[Any]) -> str:
    """A kind guessed from predicted values, for a run whose schema is gone."""
    present = [v for v in values if not missing(v)]
    if present and all(isinstance(v, bool) for v in present):
        return "yes/no"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "number"
    if present and all(isinstance(v, list) for v in present):
        return "list"
    return "text"


# --- confusion matrices -----------------------------------------------------------------------


def confusion(
    gold: list[Any], pred: list[Any], shown: dict[str, str] | None = None
) -> pd.DataFrame:
    """Long-form confusion counts (gold, predicted, count), every label pair included.
    `shown` maps a normalised label back to how the schema spells it."""
    shown = shown or {}
    names = [_name(g, shown) for g in gold], [_name(p, shown) for p in pred]
    labels = sorted(set(names[0]) | set(names[1]), key=lambda x: (x == NONE_LABEL, x))
    counts = Counter(zip(*names, strict=True))
    return pd.DataFrame(
        [(g, p, counts.get((g, p), 0)) for g in labels for p in labels],
        columns=["gold", "predicted", "count"],
    )


def _name(value: Any, shown: dict[str, str]) -> str:
    if value is None:
        return NONE_LABEL
    if isinstance(value, bool):
        return "yes" if value else "no"
    return shown.get(str(value), str(value))


def choice_spellings(column: Column) -> dict[str, str]:
    """Normalised choice → the schema's own spelling ('ct thorax' → 'CT thorax')."""
    return {normalize(v, "choice"): str(v) for v in column.choices if isinstance(v, str)}


def interval_text(value: float | None, ci: tuple[float, float] | None, digits: int = 2) -> str:
    """'0.83 [0.71, 0.94]' (or '—' when there is no value)."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    return f"{text} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else text
