"""Scoring predictions against a gold file (id + fields), per field.

Rows are matched by id (compared as text) and only matched rows are scored: a gold row the
run did not include (a run of the first N rows) is counted apart, while a row the run
failed is in the run, with null fields, and counts as wrong. An empty gold cell means "no
value" (null), the
right answer for an optional field, unless `empty_gold="skip"` says it was not annotated:
then that row does not count for that field. `n` is the rows counted per field; a missing
prediction (null, or a row the run failed) where gold has a value counts as wrong.

  accuracy  share of counted rows where prediction == gold after normalising
            (text and choices: trimmed, case-folded; yes/no: true/false/yes/no/1/0;
            numbers: numeric equality; lists: the same set of items)
  F1        choice and yes/no: macro F1 over the labels seen in gold or predictions;
            lists: micro F1 over items; text and numbers: none
  MAE       numbers: mean absolute error over rows where both are numbers
  missing   counted rows where gold has a value and the prediction has none

No Streamlit here; the Evaluate page draws these tables.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..schema import OutputSchema
from .schema_builder import kind_of

NUMERIC, CATEGORICAL = ("number", "integer"), ("choice", "yes/no")
NONE_LABEL = "(none)"
_TRUE = {"true", "yes", "y", "1", "ja", "j"}
_FALSE = {"false", "no", "n", "0", "nee"}


@dataclass(frozen=True)
class FieldScore:
    field: str
    kind: str
    n: int
    accuracy: float | None
    f1: float | None
    mae: float | None
    missing: int


@dataclass
class Evaluation:
    matched: int  # gold rows with a prediction row
    gold_only: list[str]  # gold ids without a prediction row
    pred_only: list[str]  # prediction ids not in the gold file
    scores: list[FieldScore]
    pairs: dict[str, tuple[list[Any], list[Any]]]  # field → (gold, predicted), normalised

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(s) for s in self.scores])


def schema_kinds(schema: OutputSchema | dict[str, Any]) -> dict[str, str]:
    """Field → builder kind ('text', 'number', 'choice', 'list', ...) from a schema."""
    node = schema.json_schema if isinstance(schema, OutputSchema) else schema
    out = {}
    for name, sub in node.get("properties", {}).items():
        variants = [v for v in sub.get("anyOf", []) if v.get("type") != "null"]
        inner = variants[0] if len(variants) == 1 else sub
        if isinstance(inner.get("type"), list):
            rest = [t for t in inner["type"] if t != "null"]
            inner = {**inner, "type": rest[0]} if len(rest) == 1 else inner
        if "enum" in inner:
            inner = {**inner, "enum": [v for v in inner["enum"] if v is not None]}
        out[name] = kind_of(inner) or "text"
    return out


def infer_kind(values: list[Any]) -> str:
    """A kind guessed from predicted values, for a run whose schema is gone."""
    present = [v for v in values if not _missing(v)]
    if present and all(isinstance(v, bool) for v in present):
        return "yes/no"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "number"
    if present and all(isinstance(v, list) for v in present):
        return "list"
    return "text"


# --- normalising ----------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def normalize(value: Any, kind: str) -> Any:
    """A value made comparable for its kind; None when missing or unreadable."""
    if _missing(value):
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
        return True if word in _TRUE else False if word in _FALSE else None
    if kind == "list":
        items = value
        if isinstance(value, str):
            try:
                items = json.loads(value)
            except json.JSONDecodeError:
                items = [p for p in value.split(";")]
        if not isinstance(items, list):
            items = [items]
        return frozenset(_label(x) for x in items if not _missing(x))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip().casefold()


def _label(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip().casefold()


# --- scoring --------------------------------------------------------------------------------


def evaluate(
    predictions: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    pred_id: str,
    gold_id: str,
    kinds: dict[str, str],
    empty_gold: str = "null",
) -> Evaluation:
    """Score each field in `kinds` (field → kind) that both tables have.

    empty_gold: "null" (an empty gold cell is the answer null) or "skip" (not annotated)."""
    if empty_gold not in ("null", "skip"):
        raise ConfigError(f"empty_gold must be 'null' or 'skip', not {empty_gold!r}")
    for frame, column, what in ((predictions, pred_id, "predictions"), (gold, gold_id, "gold")):
        if column not in frame:
            raise ConfigError(f"the {what} have no column {column!r}")
    pred_by_id = _by_id(predictions, pred_id, "predictions")
    gold_by_id = _by_id(gold, gold_id, "gold file")
    matched = [i for i in gold_by_id if i in pred_by_id]
    scores, pairs = [], {}
    for field, kind in kinds.items():
        if field not in gold.columns or field not in predictions.columns:
            continue
        g_vals, p_vals = [], []
        for row_id in matched:
            g = normalize(gold_by_id[row_id].get(field), kind)
            if g is None and empty_gold == "skip":
                continue
            if g is None and kind == "list":
                g = frozenset()  # an empty cell is an empty list
            g_vals.append(g)
            p_vals.append(normalize(pred_by_id[row_id].get(field), kind))
        scores.append(score_field(field, kind, g_vals, p_vals))
        pairs[field] = (g_vals, p_vals)
    return Evaluation(
        matched=len(matched),
        gold_only=[i for i in gold_by_id if i not in pred_by_id],
        pred_only=[i for i in pred_by_id if i not in gold_by_id],
        scores=scores,
        pairs=pairs,
    )


def _by_id(frame: pd.DataFrame, column: str, what: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in frame.to_dict(orient="records"):
        key = id_text(record[column])
        if key in out:
            raise ConfigError(f"the {what} have the id {key!r} more than once")
        out[key] = record
    return out


def id_text(value: Any) -> str:
    """Ids compared as text: 7, 7.0 and "7" are the same id."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def score_field(field: str, kind: str, gold: list[Any], pred: list[Any]) -> FieldScore:
    """Scores for one field from normalised gold and predicted values (None: null)."""
    n = len(gold)
    missing = sum(p is None and g is not None for g, p in zip(gold, pred, strict=True))
    if n == 0:
        return FieldScore(field, kind, 0, None, None, None, missing)
    if kind in NUMERIC:
        correct = sum(
            p == g if p is None or g is None else math.isclose(p, g, abs_tol=1e-9)
            for g, p in zip(gold, pred, strict=True)
        )
        errors = [
            abs(p - g) for g, p in zip(gold, pred, strict=True) if p is not None and g is not None
        ]
        mae = sum(errors) / len(errors) if errors else None
    else:
        correct = sum(p == g for g, p in zip(gold, pred, strict=True))
        mae = None
    if kind in CATEGORICAL:
        f1 = macro_f1(gold, pred)
    elif kind == "list":
        f1 = micro_f1_sets(gold, pred)
    else:
        f1 = None
    return FieldScore(field, kind, n, correct / n, f1, mae, missing)


def macro_f1(gold: list[Any], pred: list[Any]) -> float:
    """Macro F1 over the labels in gold or predictions. Null is a label only where gold
    holds it (the right answer was 'no value'); a null prediction otherwise only misses."""
    labels = set(gold) | {p for p in pred if p is not None}
    total = 0.0
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        total += 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return total / len(labels) if labels else 0.0


def micro_f1_sets(gold: list[frozenset], pred: list[frozenset | None]) -> float:
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        p = p or frozenset()
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


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


def choice_spellings(schema: OutputSchema | dict[str, Any], field: str) -> dict[str, str]:
    """Normalised choice → the schema's own spelling ('ct thorax' → 'CT thorax')."""
    node = schema.json_schema if isinstance(schema, OutputSchema) else schema
    sub = node.get("properties", {}).get(field, {})
    values = [v for n in [sub, *sub.get("anyOf", [])] for v in n.get("enum", []) or []]
    return {normalize(v, "choice"): str(v) for v in values if isinstance(v, str)}
