"""Reviewers' decisions on a run's values: made, imported, exported, measured, learnt from.

A decision is one line of `reviews.jsonl` in the run folder:

    {"row", "id", "field", "model_value", "value", "action", "reviewer", "at"}

`field` is a column (`nodus.aanwezig`, `bevindingen`: columns.py); `value` is what the
reviewer says is right (null: not in the report); `action` is "accept" when that is the
model's own value, else "correct". Decisions are data, never edits: the model's records
are not changed, every decision is appended (crash-safe, store.append_lines), and the
latest decision per (row, field, reviewer) counts. Without a reviewer named, the latest
decision of anyone counts for a (row, field).

From the decisions: gold (`gold`, written by gold.write_gold), agreement and Cohen's
kappa (`stats`), and few-shot examples (`reviewed_examples`: every fully reviewed
record, its report text and reviewed values validated against the schema).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from .columns import Column, canonical, column_value, problem, same, schema_columns, unflatten
from .errors import ConfigError
from .examples import Example, ExamplePool, compact_json
from .gold import Gold, read_gold
from .schema import OutputSchema
from .settings import stable_hash
from .store import RunFolder

ACCEPT, CORRECT = "accept", "correct"
DECISION_KEYS = ("row", "id", "field", "model_value", "value", "action", "reviewer", "at")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Decision:
    row: int
    id: str
    field: str
    model_value: Any
    value: Any
    action: str
    reviewer: str
    at: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Decision | None:
        """A decision line, or None when the line is not one."""
        if not all(k in obj for k in DECISION_KEYS):
            return None
        ok = (
            isinstance(obj["row"], int)
            and obj["action"] in (ACCEPT, CORRECT)
            and isinstance(obj["reviewer"], str)
            and isinstance(obj["field"], str)
        )
        return cls(**{k: obj[k] for k in DECISION_KEYS}) if ok else None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class RunReview:
    """A run folder seen for review: its records, its columns and its decisions."""

    def __init__(self, folder: RunFolder | Path, schema: OutputSchema | None = None):
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.manifest = self.folder.manifest()
        self.records = self.folder.records()
        self.schema = schema or self.folder.schema()
        if self.schema is not None:
            self.columns = schema_columns(self.schema.json_schema)
        else:  # the schema is gone: the columns the records have
            self.columns = guessed_columns(r.get("fields") or {} for r in self.records.values())
        self.by_path = {c.path: c for c in self.columns}
        self.rows_by_id = {str(rec["id"]): row for row, rec in self.records.items()}
        self.id_field = (self.manifest.get("task") or {}).get("id_field") or "id"

    # --- decisions in ---------------------------------------------------------------------
    def decision(self, row: int, field: str, value: Any, reviewer: str) -> Decision:
        """A reviewer's value for one field of one record (ConfigError when it cannot be
        that field's value)."""
        reviewer = reviewer.strip()
        if not reviewer:
            raise ConfigError("a decision needs the reviewer's name")
        if row not in self.records:
            raise ConfigError(f"{self.folder.path}: no record for row {row}")
        column = self.by_path.get(field)
        if column is None:
            raise ConfigError(f"{field!r} is not a field of this run")
        why = problem(value, column)
        if why:
            raise ConfigError(f"{field}: {value!r}: {why}")
        record = self.records[row]
        model_value = self.model_value(row, field)
        action = ACCEPT if same(value, model_value) else CORRECT
        return Decision(row, str(record["id"]), field, model_value, value, action, reviewer, now())

    def model_value(self, row: int, field: str) -> Any:
        return column_value(self.records[row].get("fields"), field)

    def record(self, decisions: Iterable[Decision]) -> list[Decision]:
        """Append decisions to reviews.jsonl (on disk when this returns)."""
        decisions = list(decisions)
        self.folder.append_reviews(d.as_json() for d in decisions)
        return decisions

    def import_gold(self, gold: Gold, reviewer: str) -> tuple[list[Decision], list[str]]:
        """Existing labels as decisions of `reviewer`: (the decisions recorded, the gold ids
        that have no record in this run)."""
        decisions, unknown = [], []
        for row_id, values in gold.items():
            row = self.rows_by_id.get(row_id)
            if row is None:
                unknown.append(row_id)
                continue
            decisions += [self.decision(row, f, v, reviewer) for f, v in values.items()]
        return self.record(decisions), unknown

    # --- decisions out --------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Every decision in the order made, for a record of this run and one of its
        fields (a decision on a row whose id has changed is left out)."""
        out = []
        for obj in self.folder.reviews():
            found = Decision.parse(obj)
            if found is None or found.field not in self.by_path:
                continue
            record = self.records.get(found.row)
            if record is not None and str(record["id"]) == str(found.id):
                out.append(found)
        return out

    def latest(self, reviewer: str | None = None) -> dict[tuple[int, str, str], Decision]:
        """(row, field, reviewer) → the decision that counts."""
        out = {}
        for d in self.decisions():
            if reviewer is None or d.reviewer == reviewer:
                out[(d.row, d.field, d.reviewer)] = d
        return out

    def reviewed(self, reviewer: str | None = None) -> dict[int, dict[str, Any]]:
        """row → {field: reviewed value}: the latest decision per field (of `reviewer`, or
        of anyone), rows in input order and fields in the schema's order."""
        latest: dict[int, dict[str, Decision]] = defaultdict(dict)
        for d in self.decisions():
            if reviewer is None or d.reviewer == reviewer:
                latest[d.row][d.field] = d
        order = {c.path: n for n, c in enumerate(self.columns)}
        return {
            row: {f: latest[row][f].value for f in sorted(latest[row], key=order.__getitem__)}
            for row in sorted(latest)
        }

    def fully_reviewed(self, reviewer: str | None = None) -> list[int]:
        """Rows with a decision for every field."""
        wanted = {c.path for c in self.columns}
        return [row for row, values in self.reviewed(reviewer).items() if wanted <= set(values)]

    def gold(self, reviewer: str | None = None) -> Gold:
        """The reviewed values per id (unreviewed fields absent), in input order."""
        return {str(self.records[row]["id"]): v for row, v in self.reviewed(reviewer).items()}


def gold_of(source: Path, columns: list[Column], **read: Any) -> Gold:
    """Gold from a file (gold.read_gold) or from a run folder's reviews."""
    folder = RunFolder(source)
    if Path(source).is_dir():
        if not folder.is_run():
            raise ConfigError(f"{source}: not a run folder (no manifest.json)")
        return RunReview(folder).gold()
    return read_gold(Path(source), columns, **read)


def guessed_columns(fields: Iterable[dict[str, Any]]) -> list[Column]:
    """Columns for records whose schema is gone, from their values (groups flattened)."""
    kinds: dict[str, set[str]] = {}

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(value, path)
                continue
            seen = kinds.setdefault(path, set())
            if value is not None:
                seen.add(_kind_of_value(value))

    for f in fields:
        walk(f, "")
    return [Column(p, k.pop() if len(k) == 1 else "json", nullable=True) for p, k in kinds.items()]


def _kind_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes/no"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    return "text" if isinstance(value, str) else "json"


# --- agreement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldStats:
    field: str
    reviewed: int  # records with at least one decision on this field
    agreement: float | None  # share of (record, reviewer) decisions that kept the model's value
    reviewers: int
    shared: int  # values two reviewers both decided (summed over pairs)
    kappa: float | None  # Cohen's kappa over those, the mean over pairs of reviewers


def stats(review: RunReview) -> list[FieldStats]:
    """Per field: values reviewed, model-vs-reviewer agreement, and Cohen's kappa between
    reviewers where two reviewed the same values (values are labels: the same value, the
    same label)."""
    latest = review.latest()
    by_field: dict[str, list[Decision]] = defaultdict(list)
    for d in latest.values():
        by_field[d.field].append(d)
    out = []
    for column in review.columns:
        decisions = by_field.get(column.path, [])
        if not decisions:
            continue
        per_reviewer: dict[str, dict[int, str]] = defaultdict(dict)
        for d in decisions:
            per_reviewer[d.reviewer][d.row] = _label(d.value)
        kappas, shared = [], 0
        for a, b in combinations(sorted(per_reviewer), 2):
            rows = sorted(set(per_reviewer[a]) & set(per_reviewer[b]))
            if rows:
                shared += len(rows)
                k = cohens_kappa(
                    [per_reviewer[a][r] for r in rows], [per_reviewer[b][r] for r in rows]
                )
                if k is not None:
                    kappas.append(k)
        accepted = sum(d.action == ACCEPT for d in decisions)
        out.append(
            FieldStats(
                field=column.path,
                reviewed=len({d.row for d in decisions}),
                agreement=accepted / len(decisions),
                reviewers=len(per_reviewer),
                shared=shared,
                kappa=sum(kappas) / len(kappas) if kappas else None,
            )
        )
    return out


def _label(value: Any) -> str:
    return json.dumps(canonical(value), ensure_ascii=False, sort_keys=True)


def cohens_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels for the same items; None when chance agreement
    is already certain (both gave one and the same label throughout)."""
    if len(a) != len(b) or not a:
        raise ValueError("two equally long, non-empty lists of labels")
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in ca) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


# --- examples from reviews ------------------------------------------------------------------------


def reviewed_examples(source: Path, schema: OutputSchema) -> ExamplePool:
    """The few-shot pool a run's reviews give for a task with `schema`: every record
    with a decision on each of the schema's fields (its report text and reviewed values,
    validated against the schema). Its `sources` say what the manifest records: the
    reviews file, the run folder, how many records and which ids."""
    review = RunReview(source, schema)
    rows = review.fully_reviewed()
    if not rows:
        raise ConfigError(
            f"{review.folder.path}: no fully reviewed record (a decision on every field) to "
            "learn from; review some in the Studio or `clinextract review import`"
        )
    texts = _report_texts(review.folder, rows)
    reviewed = review.reviewed()
    examples, ids = [], []
    for row in rows:
        text = texts.get(row)
        if not text:
            continue  # the report text is gone: nothing to show the model
        nested = unflatten(reviewed[row], review.columns)
        try:
            fields = schema.model.model_validate(nested).model_dump(mode="json", by_alias=True)
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(
                f"{review.folder.reviews_path}: the reviewed values of id "
                f"{review.records[row]['id']!r} do not match the schema: {first}"
            ) from exc
        examples.append(Example(text, compact_json(fields)))
        ids.append(str(review.records[row]["id"]))
    if not examples:
        raise ConfigError(f"{review.folder.path}: the reviewed records' report texts are gone")
    origin = {
        "source": "reviews",
        "reviews": str(review.folder.reviews_path),
        "run": str(review.folder.path),
        "count": len(examples),
        "ids": ids,
        "hash": stable_hash([(e.input, e.output) for e in examples]),
    }
    return ExamplePool(examples, f"reviews of {review.folder.path}", [origin])


def _report_texts(folder: RunFolder, rows: list[int]) -> dict[int, str]:
    """Report texts by row: from the predictions file, else from the data file."""
    field = (folder.manifest().get("task") or {}).get("input_field")
    items = folder.predictions()
    if items is not None and field:
        return {r: items[r].get(field) for r in rows if r < len(items)}
    return folder.input_texts(rows)
