"""A run folder read back for the Results and Evaluate pages.

The predictions file (input order, every input column, the fields, status, error,
evidence, confidence, needs_review) is the table; `records.jsonl` adds what only the
checkpoint keeps: the row's id as the run saw it, the raw model output and the attempts
(and the evidence and confidences of runs whose predictions file has none). A run that
did not finish has no predictions file: its table is built from the checkpoint, with the
report text read from the data file when that is still there.

One record is shown as its report text with every value's evidence highlighted (the
same `highlight` segments as the run report) beside a table of its values with their
confidences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import json_default
from ..errors import ConfigError
from ..highlight import (
    best_match,
    confidence_of,
    field_colours,
    field_keys,
    flagged,
    highlight_html,
    lowest_confidence,
    record_leaves,
    value_text,
)
from ..schema import OutputSchema
from ..store import MANIFEST, RunFolder
from .workspace import read_task_spec, task_schema

ROW, ID, RAW = "_row", "_id", "raw_output"  # columns the Studio adds
ATTEMPTS = "attempts"
LOWEST = "_lowest_confidence"  # the lowest confidence of the row's values
# what a record says about its own quality (dicts per leaf path, and the review flag)
CONFIDENCE, EVIDENCE, FIELD_ERRORS, NEEDS_REVIEW = (
    "confidence",
    "evidence",
    "field_errors",
    "needs_review",
)
QUALITY = (CONFIDENCE, EVIDENCE, FIELD_ERRORS, NEEDS_REVIEW)
NOT_SHOWN = (ROW, RAW, ATTEMPTS, LOWEST, CONFIDENCE, EVIDENCE, FIELD_ERRORS)  # not searched
STATUSES = ("success", "partial", "failure")
INPUT_ORDER, LOWEST_FIRST = "input order", "lowest confidence first"
SORTS = (INPUT_ORDER, LOWEST_FIRST)
EMPTY = "(empty)"


@dataclass(frozen=True)
class RunInfo:
    path: Path
    manifest: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def label(self) -> str:
        created = str(self.manifest.get("created", ""))[:16].replace("T", " ")
        return f"{self.path.parent.name}/{self.path.name} · {self.status} · {created}"


@dataclass
class RunResult:
    info: RunInfo
    frame: pd.DataFrame  # one row per input row (or per finished row when incomplete)
    fields: list[str]
    input_field: str | None
    id_field: str | None
    complete: bool
    schema: OutputSchema | None  # the task's schema when it still matches the run's
    colours: dict[str, str]  # field key → highlight colour, the same in every record

    def counts(self) -> dict[str, int]:
        status = self.frame["status"]
        return {
            "rows": len(self.frame),
            **{name: int((status == name).sum()) for name in STATUSES},
            "needs_review": int(self.frame[NEEDS_REVIEW].map(_flagged).sum()),
        }


def list_runs(output_dir: Path) -> list[RunInfo]:
    """Run folders under `output_dir` (`<run-name>/<task>-runK/manifest.json`), newest first."""
    if not output_dir.is_dir():
        return []
    found = []
    for manifest_path in output_dir.glob(f"*/*/{MANIFEST}"):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.append((manifest_path.stat().st_mtime, RunInfo(manifest_path.parent, manifest)))
    return [info for _, info in sorted(found, key=lambda pair: -pair[0])]


def load_run(run_dir: Path) -> RunResult:
    folder = RunFolder(run_dir)
    manifest = folder.manifest()
    info = RunInfo(folder.path, manifest)
    task_meta = manifest.get("task", {})
    input_field = task_meta.get("input_field")
    records = folder.records()
    items = folder.predictions()
    complete = items is not None and info.status == "complete"
    if items is not None:
        rows = [_joined(n, item, records.get(n, {})) for n, item in enumerate(items)]
    else:
        texts = folder.input_texts(records)
        rows = [
            {
                ROW: n,
                ID: rec.get("id"),
                **({input_field: texts.get(n)} if input_field else {}),
                **(rec.get("fields") or {}),
                "status": rec.get("status"),
                "error": rec.get("error"),
                **{key: rec.get(key) for key in QUALITY},
                NEEDS_REVIEW: flagged(rec),
                RAW: rec.get(RAW),
                ATTEMPTS: rec.get(ATTEMPTS),
            }
            for n, rec in sorted(records.items())
        ]
    schema = _schema(manifest)
    first = next(iter(records.values()), {})
    fields = list(schema.field_names) if schema else list((first.get("fields") or {}).keys())
    frame = pd.DataFrame(rows, dtype=object)  # values as written: 6 stays 6, not 6.0
    for column in (ROW, ID, "status", "error", RAW, *QUALITY):
        if column not in frame:
            frame[column] = None
    frame[LOWEST] = frame[CONFIDENCE].map(
        lambda c: lowest_confidence(c) if isinstance(c, dict) else None
    )
    colours = field_colours(
        field_keys(path for rec in records.values() for path, _ in record_leaves(rec))
    )
    return RunResult(
        info, frame, fields, input_field, task_meta.get("id_field"), complete, schema, colours
    )


def _joined(n: int, item: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A predictions row with what only the checkpoint keeps (and the quality keys from
    the checkpoint when the predictions file was written without them)."""
    return {
        ROW: n,
        ID: rec.get("id", str(n)),
        **{key: rec.get(key) for key in QUALITY},
        **item,
        NEEDS_REVIEW: flagged({**rec, **item}),
        RAW: rec.get(RAW),
        ATTEMPTS: rec.get(ATTEMPTS),
    }


def _schema(manifest: dict[str, Any]) -> OutputSchema | None:
    """The task's schema, only if it is still the one the run used (same hash)."""
    source = (manifest.get("task") or {}).get("source")
    if not source or not Path(source).is_file():
        return None
    try:
        schema = task_schema(read_task_spec(Path(source)), Path(source))
    except ConfigError:
        return None
    return schema if schema.hash == manifest.get("schema_hash") else None


# --- the table on the page ------------------------------------------------------------------


def value_label(value: Any) -> str:
    """A cell as one filterable label: lists and objects as JSON, nothing as '(empty)'."""
    if _missing(value):
        return EMPTY
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=json_default)


def field_values(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return []
    return sorted({value_label(v) for v in frame[column]})


def filter_frame(
    frame: pd.DataFrame,
    *,
    statuses: list[str] | None = None,
    field: str | None = None,
    values: list[str] | None = None,
    query: str = "",
    needs_review: bool = False,
) -> pd.DataFrame:
    """Rows with one of `statuses`, whose `field` has one of `values`, that contain
    `query` (case-insensitive) in any shown cell, and (with `needs_review`) that are
    marked for review. Empty filters keep everything."""
    keep = pd.Series(True, index=frame.index)
    if statuses:
        keep &= frame["status"].isin(statuses)
    if needs_review:
        keep &= frame[NEEDS_REVIEW].map(_flagged)
    if field and values and field in frame:
        keep &= frame[field].map(value_label).isin(values)
    query = query.strip().casefold()
    if query:
        visible = [c for c in frame.columns if c not in NOT_SHOWN]
        text = frame[visible].map(value_label).agg(" ".join, axis=1).str.casefold()
        keep &= text.str.contains(query, regex=False)
    return frame[keep]


def sort_frame(frame: pd.DataFrame, by: str = INPUT_ORDER) -> pd.DataFrame:
    """Input order, or the rows whose least sure value is least sure first (rows without
    a measured confidence last)."""
    if by == LOWEST_FIRST:
        lowest = pd.to_numeric(frame[LOWEST], errors="coerce")
        return (
            frame.assign(_key=lowest)
            .sort_values(["_key", ROW], na_position="last")
            .drop(columns="_key")
        )
    return frame.sort_values(ROW)


# --- one record -----------------------------------------------------------------------------


def record_values(record: pd.Series, fields: list[str]) -> pd.DataFrame:
    """The record's values one row per leaf (`nodus.grootte_mm`, `bevindingen[1]`): the
    value, its confidence, the evidence found for it and its validation error."""
    rec = _as_record(record, fields)
    confidence, evidence = rec["confidence"], rec["evidence"]
    errors = rec["field_errors"]
    rows = [
        {
            "field": path,
            "value": value_text(value),
            "confidence": confidence_of(confidence, path),
            "evidence": best_match(evidence.get(path)) or "none",
            "error": errors.get(path),
        }
        for path, value in record_leaves(rec)
    ]
    return pd.DataFrame(rows, columns=["field", "value", "confidence", "evidence", "error"])


def record_html(record: pd.Series, fields: list[str], text: str, colours: dict[str, str]) -> str:
    """The report text as HTML with each value's evidence marked in its field's colour;
    hovering a mark shows the field, its value and its confidence."""
    rec = _as_record(record, fields)
    titles = {}
    for path, value in record_leaves(rec):
        conf = confidence_of(rec["confidence"], path)
        sure = f"confidence {conf:.0%}" if conf is not None else "confidence not measured"
        titles[path] = f"{path} = {value_text(value)} · {sure}"
    return highlight_html(text, rec["evidence"], colours, titles)


def _as_record(record: pd.Series, fields: list[str]) -> dict[str, Any]:
    """A table row as a record: its fields, and its quality dicts (never None)."""

    def mapping(key: str) -> dict[str, Any]:
        value = record.get(key)
        return value if isinstance(value, dict) else {}

    return {
        "fields": {f: None if _missing(record.get(f)) else record.get(f) for f in fields},
        "confidence": mapping(CONFIDENCE),
        "evidence": mapping(EVIDENCE),
        "field_errors": mapping(FIELD_ERRORS),
    }


def for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as the user downloads it: the Studio's own columns dropped."""
    return frame.drop(columns=[c for c in (ROW, LOWEST) if c in frame])


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with lists and objects written as JSON text."""
    flat = for_export(frame).copy()
    for column in flat.columns:
        if flat[column].map(lambda v: isinstance(v, list | dict)).any():
            flat[column] = flat[column].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            )
    return flat.to_csv(index=False).encode("utf-8")


def to_json_bytes(frame: pd.DataFrame) -> bytes:
    items = [
        {k: None if _missing(v) else v for k, v in item.items()}
        for item in for_export(frame).to_dict(orient="records")
    ]
    return json.dumps(items, ensure_ascii=False, indent=1, default=json_default).encode("utf-8")


def _flagged(value: Any) -> bool:
    return value is True


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
