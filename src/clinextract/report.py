"""The run report: one self-contained `report.html` in the run folder that a clinician
opens offline to check a run: its summary and quality warnings, each field's values as
small charts, and every record's report text with each value's evidence highlighted in
its field's colour, confidences, failures with their error and raw output, and filters.

    write_report(RunFolder(path))          # → path/report.html
    clinextract report RUN_DIR [--output FILE]

The page is `report_template.html` with the run's data embedded once as JSON (escaped so
that no report text can end the script element); its script draws one page of records at
a time and filters over the data, so 10,000 records stay quick (docs/report.md). The
highlighting is precomputed here by `highlight.segments`, the one implementation the
Studio shares. Nothing in the page loads anything: no external URL, and a
Content-Security-Policy that forbids every request.

Report text is in the file, so it is written into the run folder (or where the user
says) and never logged.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from .errors import ConfigError, WriteError
from .files import atomic_write
from .highlight import (
    MATCHED,
    background,
    best_match,
    confidence_of,
    field_colours,
    field_key,
    field_keys,
    flagged,
    group_keys,
    record_leaves,
    segments,
    value_text,
)
from .store import RunFolder
from .version import __version__

Texts = Mapping[int, str] | Callable[[int], str | None]
TEMPLATE = "report_template.html"
TITLE_MARK, DATA_MARK = "<!--REPORT_TITLE-->", "/*REPORT_DATA*/"
TOP_VALUES = 8  # bars per field chart; the rest are one "other" bar
REPORT_AUTO_ROWS = 20_000  # a run writes its report by itself up to this many rows
BINS = 8  # numeric fields with more distinct values than this get a histogram
EMPTY_LABELS = (value_text(None), value_text([]))  # no value: null, an empty list


def write_report(
    folder: RunFolder | Path, texts: Texts | None = None, output: Path | None = None
) -> Path:
    """Write the run's report (default `<run>/report.html`, atomically); returns its path.
    `texts` gives the report text by row; by default it is read from the predictions file,
    or, for an unfinished run, from the data file the manifest names."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    path = Path(output) if output is not None else folder.report_path
    page = render_report(folder, texts)
    try:
        atomic_write(path, [page])
    except WriteError as exc:
        raise WriteError(f"cannot write the report: {exc}") from exc
    return path


def render_report(folder: RunFolder, texts: Texts | None = None) -> str:
    data = report_data(folder, texts)
    title = f"{data['run']['task']} · {data['run']['folder']} · run report"
    template = files("clinextract").joinpath(TEMPLATE).read_text(encoding="utf-8")
    head, _, tail = template.partition(DATA_MARK)
    return head.replace(TITLE_MARK, html.escape(title)) + script_json(data) + tail


def script_json(data: Any) -> str:
    """JSON safe inside `<script type="application/json">`: `<`, `>` and `&` are written
    as \\u escapes, so neither `</script>` nor `<!--` in a report can end the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- the data the page draws -----------------------------------------------------------


def report_data(folder: RunFolder, texts: Texts | None = None) -> dict[str, Any]:
    manifest = folder.manifest()
    records = folder.records()
    try:
        items = folder.predictions()
    except (OSError, ValueError) as exc:  # a damaged file: say which, no traceback
        raise ConfigError(f"{folder.predictions_path}: unreadable ({exc})") from exc
    rows = list(range(len(items))) if items is not None else sorted(records)
    text_of = _text_source(folder, manifest, items, records, texts)
    leaves = {row: record_leaves(rec) for row, rec in records.items()}
    keys = field_keys(path for pairs in leaves.values() for path, _ in pairs)
    index = {key: n for n, key in enumerate(keys)}
    fills: dict[tuple[int, ...], int] = {}  # one CSS background per combination of fields
    groups = group_keys(keys)
    colours = field_colours(keys)
    out = []
    for row in rows:
        rec = records.get(row) or _from_prediction(row, items[row] if items else {})
        text = text_of(row)
        text = text if isinstance(text, str) else None  # a missing cell, not text
        out.append(_record(rec, leaves.get(row, []), text, index, fills))
    fill_css = [""] * len(fills)
    for combo, n in fills.items():
        fill_css[n] = background([colours[keys[k]] for k in combo])
    return {
        "run": _summary(folder, manifest, out),
        "warnings": manifest.get("warnings"),
        "fields": [
            {"key": key, "colour": colours[key], "group": key in groups} | _distribution(n, out)
            for n, key in enumerate(keys)
        ],
        "fills": fill_css,
        "records": out,
    }


def _text_source(
    folder: RunFolder,
    manifest: dict[str, Any],
    items: list[dict[str, Any]] | None,
    records: dict[int, dict[str, Any]],
    texts: Texts | None,
) -> Callable[[int], str | None]:
    """row → its report text (from the caller, the predictions file or the data file)."""
    if callable(texts):
        return texts
    if texts is not None:
        return texts.get
    field = (manifest.get("task") or {}).get("input_field")
    if items is not None:
        return lambda row: items[row].get(field) if field else None
    return folder.input_texts(records).get


def _from_prediction(row: int, item: dict[str, Any]) -> dict[str, Any]:
    """A row of the predictions file without its checkpoint line (should not happen):
    shown with its status and error, its fields unknown."""
    return {"row": row, "id": str(row), "status": item.get("status"), "error": item.get("error")}


def _record(
    rec: dict[str, Any],
    pairs: list[tuple[str, Any]],
    text: str | None,
    index: dict[str, int],
    fills: dict[tuple[int, ...], int],
) -> dict[str, Any]:
    """One record as the page needs it (short keys: 10,000 of these are in one file).
    L: leaves [path, field number, value text, confidence|null, best match|null];
    S: highlighted segments [start, end, [leaf numbers], fill number]."""
    confidence = rec.get("confidence") or {}
    evidence = rec.get("evidence") or {}
    leaves = []
    for path, value in pairs:
        conf = confidence_of(confidence, path)
        conf = round(conf, 3) if conf is not None else None
        best = best_match(evidence.get(path))
        leaves.append([path, index[field_key(path)], value_text(value), conf, best])
    number = {leaf[0]: n for n, leaf in enumerate(leaves)}
    marks = []
    if text is not None:
        for seg in segments(text, evidence):
            if seg.paths:
                combo = tuple(sorted({number[p] for p in seg.paths}))
                fields = tuple(dict.fromkeys(leaves[n][1] for n in combo))
                fill = fills.setdefault(fields, len(fills))
                marks.append([seg.start, seg.end, list(combo), fill])
    known = [leaf[3] for leaf in leaves if leaf[3] is not None]
    out: dict[str, Any] = {
        "r": rec.get("row"),
        "id": str(rec.get("id", rec.get("row"))),
        "s": rec.get("status") or "unknown",
        "t": text,
        "nr": flagged(rec),
        "mc": min(known) if known else None,
        "L": leaves,
        "S": marks,
    }
    for key, name in (("err", "error"), ("fe", "field_errors")):
        if rec.get(name):
            out[key] = rec[name]
    if rec.get("raw_output") and out["s"] != "success":  # a success's answer is its fields
        out["raw"] = rec["raw_output"]
    if rec.get("attempts"):
        out["a"] = rec["attempts"]
    return out


def _distribution(number: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A field's values over the run: the most common values (or, for a number with
    many values, a histogram), how many values are empty and how many have evidence."""
    labels: Counter[str] = Counter()
    numbers: list[float] = []
    empty = grounded = total = 0
    for rec in records:
        for _, field, label, _, match in rec["L"]:
            if field != number:
                continue
            total += 1
            if label in EMPTY_LABELS:
                empty += 1
                continue
            grounded += match in MATCHED
            labels[label] += 1
            try:
                numbers.append(float(label))
            except ValueError:
                continue
            if not math.isfinite(numbers[-1]):
                numbers.pop()
    out = {"n": total, "empty": empty, "grounded": grounded, "kind": "values"}
    if len(labels) > BINS and len(numbers) == sum(labels.values()):
        return {**out, "kind": "bins", "bars": _histogram(numbers)}
    top = labels.most_common(TOP_VALUES)
    rest = sum(labels.values()) - sum(count for _, count in top)
    bars = [[label, count] for label, count in top]
    if rest:
        bars.append([f"{len(labels) - len(top)} other values", rest, "other"])
    return {**out, "bars": bars}


def _histogram(values: list[float]) -> list[list[Any]]:
    """[label, count, low, high) per bin (the last bin includes `high`); whole numbers get
    whole-number bins labelled by their first and last value."""
    low, high = min(values), max(values)
    whole = all(v == int(v) for v in values)
    width = math.ceil((high - low + 1) / BINS) if whole else (high - low) / BINS or 1
    counts = [0] * BINS
    for v in values:
        counts[min(int((v - low) // width), BINS - 1)] += 1
    bars = []
    for n, count in enumerate(counts):
        lo, hi = low + n * width, low + (n + 1) * width
        if whole and lo > high:
            break
        label = (
            (f"{lo:g}" if width == 1 else f"{lo:g}–{hi - 1:g}") if whole else f"{lo:.3g}–{hi:.3g}"
        )
        bars.append([label, count, lo, hi])
    return bars


def _summary(folder: RunFolder, manifest: dict[str, Any], records: list[dict]) -> dict[str, Any]:
    statuses = Counter(rec["s"] for rec in records)
    values = [leaf for rec in records for leaf in rec["L"] if leaf[2] not in EMPTY_LABELS]
    task = manifest.get("task") or {}
    engine = manifest.get("engine") or {}
    timings = manifest.get("timings") or {}
    return {
        "task": task.get("name") or folder.path.name,
        "folder": folder.path.name,
        "status": manifest.get("status", "unknown"),
        "created": manifest.get("created"),
        "finished": manifest.get("finished"),
        "model": engine.get("model"),
        "engine": engine.get("engine"),
        "version": manifest.get("version"),
        "config_hash": manifest.get("config_hash"),
        "rows": (manifest.get("counts") or {}).get("rows", len(records)),
        "shown": len(records),
        "statuses": dict(statuses),
        "needs_review": sum(rec["nr"] for rec in records),
        "values": len(values),
        "grounded": sum(leaf[4] in MATCHED for leaf in values),
        "with_confidence": sum(leaf[3] is not None for leaf in values),
        "docs_per_s": timings.get("docs_per_s"),
        "seconds": timings.get("seconds"),
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": __version__,
    }
