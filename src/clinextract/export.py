"""A run's predictions in the formats other tools read: CSV, JSONL, Parquet, and the two
annotation tools a team may already use, Label Studio and doccano.

* csv / jsonl / parquet: the predictions file's items (every input column, the fields,
  status, error, field_errors, needs_review, confidence, evidence); in CSV and Parquet
  lists and objects are JSON text.
* label-studio: one task per record: `data` (the report text and the record's id) and
  one prediction whose `result` holds every evidence span (`labels`, offsets into the
  text, `score` = the value's confidence) and every value as the control its kind needs
  (`choices`, `number`, `textarea`); the prediction's `score` is the record's lowest
  confidence (left out when none was measured), so Label Studio can sort the least
  sure first. The labeling configuration
  that matches it is written beside the file (`<name>.label-config.xml`).
* doccano: JSON lines `{"text", "label": [[start, end, field]], <id column>}` (sequence
  labelling; the field's values are its evidence spans).

Spans come from `highlight.spans`: only evidence whose offsets point at its own text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from html import escape
from pathlib import Path
from typing import Any

from .columns import Column, column_confidence, column_value
from .errors import ConfigError, MissingExtra
from .gold import NO, NOT_IN_REPORT, YES
from .highlight import confidence_of, field_key, lowest_confidence, spans
from .review import RunReview
from .store import atomic_write, dumps

FORMATS = ("csv", "jsonl", "parquet", "label-studio", "doccano")
EVIDENCE = "evidence"  # the Label Studio control that holds the spans
TEXT = "text"  # the Label Studio object (and data key) that holds the report


def export_run(run_dir: Path, fmt: str, output: Path) -> int:
    """Write the run in `fmt` to `output`; returns the number of records written."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (use one of {', '.join(FORMATS)})")
    review = RunReview(run_dir)
    items = _items(review)
    if fmt == "csv":
        import pandas as pd

        atomic_write(output, [pd.DataFrame(_flat(items)).to_csv(index=False)])
    elif fmt == "jsonl":
        atomic_write(output, (dumps(item) + "\n" for item in items))
    elif fmt == "parquet":
        _write_parquet(output, items)
    elif fmt == "label-studio":
        tasks = list(label_studio_tasks(review, report_texts(review, items)))
        atomic_write(output, [dumps(tasks, indent=1) + "\n"])
        atomic_write(label_config_path(output), [label_config(review.columns)])
    else:
        lines = doccano_lines(review, report_texts(review, items))
        atomic_write(output, (dumps(line) + "\n" for line in lines))
    return len(items)


def label_config_path(output: Path) -> Path:
    return Path(output).with_suffix(".label-config.xml")


def _items(review: RunReview) -> list[dict[str, Any]]:
    """The predictions file's items; for a run that did not finish, its records with the
    report text from the data file."""
    items = review.folder.predictions()
    if items is not None:
        return items
    task = review.manifest.get("task") or {}
    texts = review.folder.input_texts(review.records)
    out = []
    for row, rec in sorted(review.records.items()):
        item = {review.id_field: rec["id"]}
        if task.get("input_field"):
            item[task["input_field"]] = texts.get(row)
        item.update(rec.get("fields") or {})
        for key in ("status", "error", "field_errors", "needs_review", "confidence", "evidence"):
            item[key] = rec.get(key)
        out.append(item)
    return out


def report_texts(review: RunReview, items: list[dict[str, Any]]) -> dict[int, str]:
    """row → report text ("" when it is not kept)."""
    field = (review.manifest.get("task") or {}).get("input_field")
    if review.folder.predictions_path.exists():  # one item per input row, in input order
        by_row = dict(enumerate(items))
    else:  # the finished rows' items, in row order (_items)
        by_row = dict(zip(sorted(review.records), items, strict=False))
    texts = {}
    for row in review.records:
        text = by_row.get(row, {}).get(field) if field else None
        texts[row] = text if isinstance(text, str) else ""
    return texts


def _flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            for k, v in i.items()
        }
        for i in items
    ]


def _write_parquet(output: Path, items: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingExtra("export --format parquet", "parquet") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    pq.write_table(pa.Table.from_pylist(_flat(items)), tmp)
    tmp.replace(output)


# --- Label Studio -------------------------------------------------------------------------------


def label_studio_tasks(review: RunReview, texts: dict[int, str]) -> Iterator[dict[str, Any]]:
    model = str((review.manifest.get("engine") or {}).get("model") or "clinextract")
    for row, rec in sorted(review.records.items()):
        text = texts.get(row, "")
        confidence = rec.get("confidence") or {}
        results = list(_span_results(row, text, rec.get("evidence") or {}, confidence))
        results += _value_results(row, rec, review.columns, confidence)
        prediction: dict[str, Any] = {"model_version": model, "result": results}
        lowest = lowest_confidence(confidence)
        if lowest is not None:  # measured, never made up: no confidence, no score
            prediction["score"] = lowest
        yield {
            "data": {TEXT: text, review.id_field: rec["id"], "row": row},
            "predictions": [prediction],
        }


def _span_results(
    row: int, text: str, evidence: dict[str, Any], confidence: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    for n, (start, end, path) in enumerate(spans(text, evidence)):
        result = {
            "id": f"r{row}-span{n}",
            "from_name": EVIDENCE,
            "to_name": TEXT,
            "type": "labels",
            "value": {
                "start": start,
                "end": end,
                "text": text[start:end],
                "labels": [label(path)],
            },
        }
        score = confidence_of(confidence, path)
        if score is not None:
            result["score"] = score
        yield result


def _value_results(
    row: int, rec: dict[str, Any], columns: list[Column], confidence: dict[str, Any]
) -> list[dict[str, Any]]:
    out = []
    for n, column in enumerate(columns):
        value = column_value(rec.get("fields"), column.path)
        found = _control_value(value, column)
        if found is None:
            continue
        kind, payload = found
        result = {
            "id": f"r{row}-value{n}",
            "from_name": column.path,
            "to_name": TEXT,
            "type": kind,
            "value": payload,
        }
        score = column_confidence(confidence, column.path)
        if score is not None:
            result["score"] = score
        out.append(result)
    return out


def _control_value(value: Any, column: Column) -> tuple[str, dict[str, Any]] | None:
    """(result type, value) of a column's value in its Label Studio control."""
    control = _control(column)
    if value is None:
        return ("choices", {"choices": [NOT_IN_REPORT]}) if control == "Choices" else None
    if control == "Choices":
        if column.kind == "yes/no":
            return "choices", {"choices": [YES if value else NO]}
        return "choices", {"choices": list(value) if isinstance(value, list) else [str(value)]}
    if control == "Number":
        return "number", {"number": value}
    lines = value if isinstance(value, list) else [value]
    return "textarea", {"text": [v if isinstance(v, str) else json.dumps(v) for v in lines]}


def _control(column: Column) -> str:
    if column.kind in ("choice", "yes/no") or (
        column.kind == "list" and column.item_kind == "choice"
    ):
        return "Choices"
    if column.kind in ("number", "integer"):
        return "Number"
    return "TextArea"


def label_config(columns: list[Column]) -> str:
    """The Label Studio labeling configuration for these columns: the report with an
    evidence label per field, and one control per column."""
    names = list(dict.fromkeys(label(c.path) for c in columns))
    lines = ["<View>", f'  <Labels name="{EVIDENCE}" toName="{TEXT}">']
    lines += [f'    <Label value="{escape(n)}"/>' for n in names]
    lines += ["  </Labels>", f'  <Text name="{TEXT}" value="${TEXT}"/>']
    for column in columns:
        name = escape(column.path)
        lines.append(f'  <Header value="{name}"/>')
        control = _control(column)
        if control == "Choices":
            multiple = "multiple" if column.kind == "list" else "single"
            options = [YES, NO] if column.kind == "yes/no" else list(column.choices)
            if column.nullable and column.kind != "list":
                options.append(NOT_IN_REPORT)
            lines.append(f'  <Choices name="{name}" toName="{TEXT}" choice="{multiple}">')
            lines += [f'    <Choice value="{escape(o)}"/>' for o in options]
            lines.append("  </Choices>")
        elif control == "Number":
            bounds = "".join(
                f' {key}="{value:g}"'
                for key, value in (("min", column.minimum), ("max", column.maximum))
                if value is not None
            )
            lines.append(f'  <Number name="{name}" toName="{TEXT}"{bounds}/>')
        else:
            lines.append(f'  <TextArea name="{name}" toName="{TEXT}" editable="true"/>')
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def label(path: str) -> str:
    """A span's label: the field, without list positions ('bevindingen[2]' → 'bevindingen')."""
    return field_key(path).replace("[]", "")


# --- doccano ---------------------------------------------------------------------------


def doccano_lines(review: RunReview, texts: dict[int, str]) -> Iterable[dict[str, Any]]:
    for row, rec in sorted(review.records.items()):
        text = texts.get(row, "")
        found = spans(text, rec.get("evidence") or {})
        yield {
            "text": text,
            "label": [[start, end, label(path)] for start, end, path in found],
            review.id_field: rec["id"],
        }
