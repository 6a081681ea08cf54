"""A run folder read back for the Results and Evaluate pages.

The predictions file (input order, every input column, the fields, status, error) is the
table; `records.jsonl` adds what only the checkpoint keeps: the row's id as the run saw
it, the raw model output and the attempts. A run that did not finish has no predictions
file: its table is built from the checkpoint, with the report text read from the data
file when that is still there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import DataSource, json_default
from ..errors import ConfigError
from ..schema import OutputSchema
from ..store import MANIFEST, RunFolder
from .workspace import read_task_spec, task_schema

ROW, ID, RAW = "_row", "_id", "raw_output"  # columns the Studio adds
ATTEMPTS = "attempts"
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

    def counts(self) -> dict[str, int]:
        status = self.frame["status"] if "status" in self.frame else pd.Series(dtype=str)
        return {
            "rows": len(self.frame),
            "success": int((status == "success").sum()),
            "failure": int((status == "failure").sum()),
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
        texts = _texts(task_meta, records)
        rows = [
            {
                ROW: n,
                ID: rec.get("id"),
                **({input_field: texts.get(n)} if input_field else {}),
                **(rec.get("fields") or {}),
                "status": rec.get("status"),
                "error": rec.get("error"),
                RAW: rec.get(RAW),
                ATTEMPTS: rec.get(ATTEMPTS),
            }
            for n, rec in sorted(records.items())
        ]
    schema = _schema(manifest)
    first = next(iter(records.values()), {})
    fields = list(schema.field_names) if schema else list((first.get("fields") or {}).keys())
    frame = pd.DataFrame(rows, dtype=object)  # values as written: 6 stays 6, not 6.0
    for column in (ROW, ID, "status", "error", RAW):
        if column not in frame:
            frame[column] = None
    return RunResult(info, frame, fields, input_field, task_meta.get("id_field"), complete, schema)


def _joined(n: int, item: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    return {
        ROW: n,
        ID: rec.get("id", str(n)),
        **item,
        RAW: rec.get(RAW),
        ATTEMPTS: rec.get(ATTEMPTS),
    }


def _texts(task_meta: dict[str, Any], records: dict[int, dict[str, Any]]) -> dict[int, str]:
    """Report texts by row from the data file, for a run without a predictions file."""
    data, field = task_meta.get("data"), task_meta.get("input_field")
    if not data or not field or not Path(data).is_file():
        return {}
    try:
        source = DataSource(Path(data), field, task_meta.get("id_field"))
        return {row.index: row.text for row in source if row.index in records}
    except ConfigError:
        return {}


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
) -> pd.DataFrame:
    """Rows with one of `statuses`, whose `field` has one of `values`, and that contain
    `query` (case-insensitive) in any cell. Empty filters keep everything."""
    keep = pd.Series(True, index=frame.index)
    if statuses:
        keep &= frame["status"].isin(statuses)
    if field and values and field in frame:
        keep &= frame[field].map(value_label).isin(values)
    query = query.strip().casefold()
    if query:
        visible = [c for c in frame.columns if c not in (ROW, RAW, ATTEMPTS)]
        text = frame[visible].map(value_label).agg(" ".join, axis=1).str.casefold()
        keep &= text.str.contains(query, regex=False)
    return frame[keep]


def for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as the user downloads it: the Studio's row number dropped."""
    return frame.drop(columns=[c for c in (ROW,) if c in frame])


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


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
