"""The Review page's logic, without Streamlit: the queue, a record's report with its
evidence marked, the values a widget shows and reads back, and progress.

Decisions go through `clinextract.review.RunReview` (reviews.jsonl, appended; the
model's records are never changed), the same code `clinextract review import` uses.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..columns import Column, column_confidence, column_value, within
from ..highlight import field_colours, field_keys, flagged, highlight_html, lowest_confidence
from ..review import RunReview

FOCUS = "outline:3px solid #d62728;outline-offset:1px"  # the mark of the field looked at


@dataclass(frozen=True)
class QueueItem:
    row: int
    id: str
    needs_review: bool
    lowest: float | None  # the record's lowest confidence; None: none was measured

    @property
    def label(self) -> str:
        sure = "confidence not measured" if self.lowest is None else f"lowest {self.lowest:.0%}"
        flag = " · needs review" if self.needs_review else ""
        return f"{self.id} ({sure}{flag})"


def queue(review: RunReview) -> list[QueueItem]:
    """Every record, those that need review first, then the lowest confidence first (a
    record without a measured confidence before the measured ones), then input order."""
    items = [
        QueueItem(row, str(rec["id"]), flagged(rec), lowest_confidence(rec.get("confidence")))
        for row, rec in review.records.items()
    ]
    return sorted(
        items,
        key=lambda i: (not i.needs_review, i.lowest is not None, i.lowest or 0.0, i.row),
    )


@dataclass(frozen=True)
class Progress:
    reviewed: int  # records with a decision of this reviewer on every field
    started: int  # records with at least one
    total: int

    @property
    def text(self) -> str:
        return f"{self.reviewed} / {self.total} records reviewed"


def progress(review: RunReview, reviewer: str | None) -> Progress:
    return Progress(
        len(review.fully_reviewed(reviewer)), len(review.reviewed(reviewer)), len(review.records)
    )


def next_unreviewed(items: list[QueueItem], review: RunReview, reviewer: str, after: int) -> int:
    """The queue position of the next record (after position `after`, wrapping) not yet
    fully reviewed by `reviewer`; `after` + 1 when all are."""
    done = set(review.fully_reviewed(reviewer))
    n = len(items)
    for step in range(1, n + 1):
        pos = (after + step) % n
        if items[pos].row not in done:
            return pos
    return min(after + 1, n - 1)


def report_text(review: RunReview, row: int) -> str | None:
    """The report of a row: from the predictions file, else the data file."""
    field = (review.manifest.get("task") or {}).get("input_field")
    items = review.folder.predictions()
    if items is not None and field and row < len(items):
        text = items[row].get(field)
        return text if isinstance(text, str) else None
    found = review.folder.input_texts([row]).get(row)
    return found if isinstance(found, str) else None


def report_html(review: RunReview, row: int, text: str, focus: str | None = None) -> str:
    """The report as HTML with every value's evidence marked in its field's colour; the
    marks of column `focus` are outlined and carry id="focus" (the page scrolls there)."""
    rec = review.records[row]
    evidence = rec.get("evidence") or {}
    colours = field_colours(field_keys(evidence))
    marked = highlight_html(text, evidence, colours)
    if focus:
        marked = _outline(marked, focus)
    return f'<div style="white-space:pre-wrap">{marked}</div>'


def _outline(marked: str, column: str) -> str:
    first = True

    def mark(m: re.Match[str]) -> str:
        nonlocal first
        paths = html.unescape(m.group(1)).split(" ")
        if not any(within(column, p) for p in paths):
            return m.group(0)
        anchor = ' id="focus"' if first else ""
        first = False
        return m.group(0).replace('style="', f'{anchor} style="{FOCUS};', 1)

    return re.sub(r'<mark data-paths="([^"]*)"[^>]*>', mark, marked)


def has_evidence(review: RunReview, row: int, column: str) -> bool:
    evidence = review.records[row].get("evidence") or {}
    return any(
        within(column, p) and any(e.get("start") is not None for e in entries or [])
        for p, entries in evidence.items()
    )


@dataclass(frozen=True)
class FieldView:
    column: Column
    model_value: Any
    confidence: float | None
    error: str | None  # the record's field error for this column, if any
    decision: Any  # this reviewer's latest decision on it, or None
    decided: bool


def field_views(review: RunReview, row: int, reviewer: str) -> list[FieldView]:
    rec = review.records[row]
    mine = {f: d for (r, f, who), d in review.latest(reviewer).items() if r == row}
    errors = rec.get("field_errors") or {}
    out = []
    for column in review.columns:
        decision = mine.get(column.path)
        error = next((e for p, e in errors.items() if within(column.path, p)), None)
        out.append(
            FieldView(
                column,
                column_value(rec.get("fields"), column.path),
                column_confidence(rec.get("confidence"), column.path),
                error,
                decision.value if decision else None,
                decision is not None,
            )
        )
    return out


# --- widget values ------------------------------------------------------------------------


def list_text(value: Any, column: Column) -> str:
    """A list as the list editor's text: one item per line (objects as JSON)."""
    if not isinstance(value, list):
        return ""
    return "\n".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)


def list_from_text(text: str, column: Column) -> list[Any]:
    """The list editor's text as the list: one item per line, typed like the items."""
    items = []
    for line in (t.strip() for t in text.splitlines()):
        if not line:
            continue
        if column.item_kind in ("number", "integer"):
            number = float(line.replace(",", "."))
            items.append(int(number) if number.is_integer() else number)
        elif column.item_kind in ("group", "json"):
            items.append(json.loads(line))
        else:
            items.append(line)
    return items


def from_widget(column: Column, raw: Any) -> Any:
    """What a column's editor holds, as the column's value (ValueError when it cannot be
    read): yes/no from 'yes'/'no', a list from the list editor's lines, JSON text."""
    if raw is None:
        return None
    if column.kind == "yes/no":
        return raw == "yes" if isinstance(raw, str) else bool(raw)
    if column.kind == "list" and column.item_kind != "choice":
        return list_from_text(raw, column) if isinstance(raw, str) else raw
    if column.kind == "json" and isinstance(raw, str):
        return json.loads(raw)
    if column.kind == "integer" and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


def groups(columns: list[Column]) -> list[tuple[str, list[Column]]]:
    """Columns by group ('' first for the top level), in the schema's order."""
    out: dict[str, list[Column]] = {}
    for column in columns:
        out.setdefault(column.group, []).append(column)
    return list(out.items())


def run_choices(runs: list[Any]) -> list[str]:
    """The paths of the runs a reviewer can open (finished runs with records)."""
    return [str(r.path) for r in runs if (Path(r.path) / "records.jsonl").is_file()]
